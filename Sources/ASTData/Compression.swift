// Compression: zlib-backed gzip/zlib/raw-deflate inflation with a hard output cap, gzip
// compression for writing .gz files, and CRC-32.

import ASTCore
import CZlib

/// Default cap on decompressed output (2 GiB): larger than any standard dataset file
/// (Fashion-MNIST train images are 47 MB), small enough to stop a decompression bomb.
public let defaultMaxDecompressedBytes = 1 << 31

/// Whether `bytes` starts with the gzip magic 1f 8b.
public func isGzip(_ bytes: [UInt8]) -> Bool {
    bytes.count >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b
}

/// Inflates a gzip stream (several concatenated members allowed, as `cat a.gz b.gz` makes) or a
/// zlib stream; throws `.format` for corrupt or truncated data and `.outOfMemory` as soon as the
/// output would exceed `maxOutput` bytes, so a hostile file cannot exhaust memory. `source` names
/// the data in error messages.
public func inflateGzip(
    _ bytes: [UInt8], maxOutput: Int = defaultMaxDecompressedBytes,
    source: String = "gzip data"
) throws(ASTError) -> [UInt8] {
    var hint = 0
    if isGzip(bytes), bytes.count >= 18 {
        // ISIZE: the uncompressed size mod 2^32 of the last member; only a capacity hint.
        let n = bytes.count
        hint = Int(bytes[n - 4]) | Int(bytes[n - 3]) << 8 | Int(bytes[n - 2]) << 16 | Int(bytes[n - 1]) << 24
        // Deflate cannot expand more than ~1032:1, so a larger claim is a lie: do not trust it.
        hint = min(hint, maxDeflateExpansion(bytes.count))
    }
    return try inflateStream(
        bytes, windowBits: 15 + 32, maxOutput: maxOutput, sizeHint: hint,
        multiMember: true, source: source)
}

/// Inflates raw deflate data (no header), as stored in zip members; the output must not exceed
/// `maxOutput` bytes.
public func inflateRaw(_ bytes: [UInt8], maxOutput: Int, source: String = "deflate data") throws(ASTError) -> [UInt8] {
    try inflateStream(
        bytes, windowBits: -15, maxOutput: maxOutput, sizeHint: maxOutput,
        multiMember: false, source: source)
}

/// Compresses `bytes` into a single gzip member (used to write .gz files and by tests).
public func gzipCompress(_ bytes: [UInt8], level: Int32 = 6) throws(ASTError) -> [UInt8] {
    var stream = z_stream()
    guard
        deflateInit2_(
            &stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, zlibVersion(),
            Int32(MemoryLayout<z_stream>.size)) == Z_OK
    else {
        throw ASTError(.internal, "gzipCompress: zlib deflateInit2 failed")
    }
    defer { deflateEnd(&stream) }
    guard bytes.count <= Int(UInt32.max) else {
        throw ASTError.invalid("gzipCompress: input of \(bytes.count) bytes is larger than 4 GiB")
    }
    let bound = Int(deflateBound(&stream, uLong(bytes.count)))
    var output = [UInt8](repeating: 0, count: bound)
    var input = bytes
    let status: Int32 = input.withUnsafeMutableBufferPointer { inp in
        output.withUnsafeMutableBufferPointer { out in
            stream.next_in = inp.baseAddress
            stream.avail_in = uInt(inp.count)
            stream.next_out = out.baseAddress
            stream.avail_out = uInt(out.count)
            return deflate(&stream, Z_FINISH)
        }
    }
    guard status == Z_STREAM_END else {
        throw ASTError(.internal, "gzipCompress: zlib deflate returned \(status)")
    }
    output.removeLast(bound - Int(stream.total_out))
    return output
}

/// Upper bound on what `compressed` bytes of deflate data can inflate to (ratio 1032:1 plus slack).
func maxDeflateExpansion(_ compressed: Int) -> Int {
    let (p, overflow) = compressed.multipliedReportingOverflow(by: 1032)
    return overflow ? Int.max : p.addingReportingOverflow(1024).overflow ? Int.max : p + 1024
}

/// CRC-32 (the zip and gzip checksum) of `bytes`.
public func crc32Checksum(_ bytes: ArraySlice<UInt8>) -> UInt32 {
    var crc: uLong = crc32(0, nil, 0)
    bytes.withUnsafeBufferPointer { buf in
        var offset = 0
        while offset < buf.count {
            let n = min(buf.count - offset, Int(Int32.max))
            crc = crc32(crc, buf.baseAddress! + offset, uInt(n))
            offset += n
        }
    }
    return UInt32(truncatingIfNeeded: crc)
}

/// Why an inflate loop stopped.
private enum InflateOutcome {
    case done(Int)
    case tooLarge
    case corrupt(String)
    case truncated
    case noMemory
}

/// The one zlib inflate loop behind `inflateGzip` and `inflateRaw`. The output buffer grows by
/// doubling (never past `maxOutput`), so memory follows the real output, not a header's claim.
private func inflateStream(
    _ bytes: [UInt8], windowBits: Int32, maxOutput: Int, sizeHint: Int,
    multiMember: Bool, source: String
) throws(ASTError) -> [UInt8] {
    guard maxOutput >= 0 else { throw ASTError.invalid("\(source): maxOutput must be >= 0, got \(maxOutput)") }
    guard !bytes.isEmpty else { throw ASTError(.format, "\(source): compressed data is empty") }
    var stream = z_stream()
    guard inflateInit2_(&stream, windowBits, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
        throw ASTError(.internal, "\(source): zlib inflateInit2 failed")
    }
    defer { inflateEnd(&stream) }

    // One byte beyond the cap is room to tell "exactly maxOutput" from "more than maxOutput".
    let limit = maxOutput == Int.max ? Int.max : maxOutput + 1
    // Size claims (gzip ISIZE, zip headers) are believed only up to 16x the input: a lying header
    // then costs a bounded allocation, and real output beyond that is reached by doubling.
    let believable = min(
        sizeHint, bytes.count.multipliedReportingOverflow(by: 16).overflow ? Int.max : bytes.count * 16)
    var capacity = min(limit, max(believable, min(bytes.count, 1 << 24) * 4, 1 << 16))
    var output = [UInt8](repeating: 0, count: capacity)
    var input = bytes
    var produced = 0
    let chunkLimit = Int(UInt32.max)

    let outcome: InflateOutcome = input.withUnsafeMutableBufferPointer { inp -> InflateOutcome in
        var consumed = 0
        stream.next_in = inp.baseAddress
        stream.avail_in = uInt(min(inp.count, chunkLimit))
        while true {
            if produced == capacity {
                if capacity >= limit { return .tooLarge }
                let (doubled, overflow) = capacity.multipliedReportingOverflow(by: 2)
                capacity = overflow ? limit : min(limit, max(doubled, 1 << 16))
                output.append(contentsOf: repeatElement(0, count: capacity - output.count))
            }
            let before = stream.total_out
            let beforeIn = stream.avail_in
            let status: Int32 = output.withUnsafeMutableBufferPointer { out in
                stream.next_out = out.baseAddress! + produced
                stream.avail_out = uInt(min(capacity - produced, chunkLimit))
                return inflate(&stream, Z_NO_FLUSH)
            }
            produced += Int(stream.total_out - before)
            consumed += Int(beforeIn - stream.avail_in)
            // Feed more input if the window passed to zlib was smaller than the remainder.
            if stream.avail_in == 0 && consumed < inp.count {
                stream.next_in = inp.baseAddress! + consumed
                stream.avail_in = uInt(min(inp.count - consumed, chunkLimit))
            }
            switch status {
            case Z_STREAM_END:
                let rest = inp.count - consumed
                // Another gzip member follows: keep going; trailing zero padding is tolerated.
                if multiMember, rest >= 2, inp[consumed] == 0x1f, inp[consumed + 1] == 0x8b {
                    guard inflateReset(&stream) == Z_OK else { return .corrupt("inflateReset failed") }
                    continue
                }
                if rest > 0 && !(multiMember && inp[consumed...].allSatisfy({ $0 == 0 })) {
                    return .corrupt("\(rest) unexpected bytes after the end of the compressed stream")
                }
                return .done(produced)
            case Z_OK:
                continue
            case Z_BUF_ERROR:
                // No progress possible: either output is full (grow and retry) or input ran out.
                if produced == capacity { continue }
                return .truncated
            case Z_MEM_ERROR:
                return .noMemory
            default:
                let text = stream.msg.map { String(cString: $0) } ?? "zlib status \(status)"
                return .corrupt(text)
            }
        }
    }
    switch outcome {
    case .done(let n) where n > maxOutput:
        throw ASTError(.outOfMemory, "\(source): decompressed size exceeds the cap of \(maxOutput) bytes")
    case .done(let n):
        output.removeLast(output.count - n)
        return output
    case .tooLarge:
        throw ASTError(.outOfMemory, "\(source): decompressed size exceeds the cap of \(maxOutput) bytes")
    case .corrupt(let why):
        throw ASTError(.format, "\(source): corrupt compressed data (\(why))")
    case .truncated:
        throw ASTError(.format, "\(source): compressed data is truncated")
    case .noMemory:
        throw ASTError(.outOfMemory, "\(source): zlib ran out of memory")
    }
}
