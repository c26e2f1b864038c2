// Helpers: temporary directories, error expectations and builders of small IDX / CIFAR / zip files.

#if canImport(Glibc)
import Glibc
#endif
import ASTCore
@testable import ASTData
import Testing

/// A fresh directory under /tmp, removed (with its files) when `body` returns.
func withTempDirectory<R>(_ body: (String) throws -> R) throws -> R {
    var template = Array("/tmp/astdata-test.XXXXXX".utf8CString)
    guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
        throw ASTError(.io, "mkdtemp failed")
    }
    let dir = String(cString: made)
    defer { removeTree(dir) }
    return try body(dir)
}

/// Removes a directory and everything in it (test scratch only).
func removeTree(_ path: String) {
    if let handle = opendir(path) {
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
            }
            if name == "." || name == ".." { continue }
            let child = path + "/" + name
            if BinaryFile.isDirectory(child) { removeTree(child) } else { unlink(child) }
        }
        closedir(handle)
    }
    rmdir(path)
}

/// Creates one directory; true on success.
func mkdirPath(_ path: String) -> Bool { mkdir(path, 0o755) == 0 }

/// Writes `bytes` to `dir/name` and returns the path.
@discardableResult
func writeFile(_ dir: String, _ name: String, _ bytes: [UInt8]) throws -> String {
    let path = dir + "/" + name
    try writeFileAtomically(path: path, bytes: bytes)
    return path
}

/// Runs `body`, which must throw an ASTError of `kind` whose message contains every string in
/// `fragments`.
func expectASTError(
    _ kind: ASTError.Kind, _ fragments: String..., sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws(ASTError) -> Void
) {
    do {
        try body()
        Issue.record("expected an ASTError of kind \(kind), nothing was thrown", sourceLocation: sourceLocation)
    } catch {
        #expect(error.kind == kind, "message: \(error.message)", sourceLocation: sourceLocation)
        for fragment in fragments {
            #expect(
                error.message.contains(fragment), "'\(error.message)' lacks '\(fragment)'",
                sourceLocation: sourceLocation)
        }
    }
}

/// Big-endian UInt32 bytes.
func bigEndian(_ v: UInt32) -> [UInt8] {
    [
        UInt8(v >> 24), UInt8(truncatingIfNeeded: v >> 16), UInt8(truncatingIfNeeded: v >> 8),
        UInt8(truncatingIfNeeded: v)
    ]
}

/// An unsigned-byte IDX file with the given dimensions and payload (not checked: tests lie on purpose).
func idxBytes(_ dims: [UInt32], _ payload: [UInt8], type: UInt8 = 0x08) -> [UInt8] {
    [0, 0, type, UInt8(dims.count)] + dims.flatMap(bigEndian) + payload
}

/// Deterministic bytes for payloads.
func patternBytes(_ count: Int, seed: UInt64 = 1) -> [UInt8] {
    var rng = SeededGenerator(seed: seed)
    return (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
}

/// Raw deflate data: zlib's gzip output without its 10-byte header and 8-byte trailer.
func rawDeflate(_ bytes: [UInt8]) throws -> [UInt8] {
    let gz = try gzipCompress(bytes)
    return Array(gz[10..<(gz.count - 8)])
}

/// One member of a hand-built zip archive.
struct ZipMember {
    var name: String
    var method: UInt16
    var stored: [UInt8]  // the bytes as they sit in the archive
    var uncompressedSize: Int
    var crc: UInt32
    /// Put sizes and offset in zip64 extra fields (central and local), as numpy's writer does.
    var zip64 = false

    static func stored(_ name: String, _ data: [UInt8], zip64: Bool = false) -> ZipMember {
        ZipMember(
            name: name, method: 0, stored: data, uncompressedSize: data.count,
            crc: crc32Checksum(data[...]), zip64: zip64)
    }

    static func deflated(_ name: String, _ data: [UInt8]) throws -> ZipMember {
        ZipMember(
            name: name, method: 8, stored: try rawDeflate(data), uncompressedSize: data.count,
            crc: crc32Checksum(data[...]))
    }
}

/// A zip archive of `members`, independent of NPZWriter so each checks the other.
func zipBytes(_ members: [ZipMember]) -> [UInt8] {
    var out = [UInt8](), central = [UInt8]()
    for m in members {
        let offset = out.count
        let name = Array(m.name.utf8)
        let c32 = m.zip64 ? UInt32.max : UInt32(m.stored.count)
        let u32 = m.zip64 ? UInt32.max : UInt32(m.uncompressedSize)
        appendU32(&out, 0x0403_4b50); appendU16(&out, 45); appendU16(&out, 0); appendU16(&out, m.method)
        appendU32(&out, 0x0021_0000); appendU32(&out, m.crc); appendU32(&out, c32); appendU32(&out, u32)
        appendU16(&out, UInt16(name.count)); appendU16(&out, m.zip64 ? 20 : 0)
        out += name
        if m.zip64 {
            appendU16(&out, 1); appendU16(&out, 16)
            appendU64(&out, UInt64(m.uncompressedSize)); appendU64(&out, UInt64(m.stored.count))
        }
        out += m.stored
        appendU32(&central, 0x0201_4b50); appendU16(&central, 45); appendU16(&central, 45)
        appendU16(&central, 0); appendU16(&central, m.method); appendU32(&central, 0x0021_0000)
        appendU32(&central, m.crc); appendU32(&central, c32); appendU32(&central, u32)
        appendU16(&central, UInt16(name.count)); appendU16(&central, m.zip64 ? 28 : 0)
        appendU16(&central, 0); appendU16(&central, 0); appendU16(&central, 0); appendU32(&central, 0)
        appendU32(&central, m.zip64 ? UInt32.max : UInt32(offset))
        central += name
        if m.zip64 {
            appendU16(&central, 1); appendU16(&central, 24)
            appendU64(&central, UInt64(m.uncompressedSize)); appendU64(&central, UInt64(m.stored.count))
            appendU64(&central, UInt64(offset))
        }
    }
    let cdOffset = out.count
    out += central
    appendU32(&out, 0x0605_4b50); appendU16(&out, 0); appendU16(&out, 0)
    appendU16(&out, UInt16(members.count)); appendU16(&out, UInt16(members.count))
    appendU32(&out, UInt32(central.count)); appendU32(&out, UInt32(cdOffset)); appendU16(&out, 0)
    return out
}

/// A .npy header+payload with an arbitrary dict (for malformed-header tests).
func npyBytes(dict: String, payload: [UInt8], version: UInt8 = 1) -> [UInt8] {
    var header = Array(dict.utf8)
    let prefix = version == 1 ? 10 : 12
    header += [UInt8](repeating: 0x20, count: (64 - (prefix + header.count + 1) % 64) % 64) + [0x0a]
    var out: [UInt8] = [0x93] + Array("NUMPY".utf8) + [version, 0]
    appendU16(&out, UInt16(header.count))
    if version != 1 { appendU16(&out, 0) }
    return out + header + payload
}
