// NPZ: reading NumPy .npz archives (zip, members stored or deflated, zip64 included) member by
// member, and writing stored .npz archives.

import ASTCore

/// A NumPy .npz archive opened for reading.
///
/// Opening parses only the zip central directory, so an archive that holds members libast cannot
/// decode (unicode names, object arrays, ...) still opens; such a member fails only when it is
/// requested. Each requested member is bounds-checked against the file, inflated with its declared
/// size as a hard cap, and CRC-checked.
public struct NPZArchive: Sendable {
    /// Where one member lives in the archive, from the central directory.
    struct Entry: Sendable {
        var fileName: String
        var method: UInt16
        var flags: UInt16
        var crc: UInt32
        var compressedSize: Int
        var uncompressedSize: Int
        var localHeaderOffset: Int
    }

    /// Names the archive in error messages (its path, or what the caller passed).
    public let source: String
    private let data: [UInt8]
    private let entries: [String: Entry]
    /// Array names (member file names without `.npy`) in archive order.
    public let names: [String]

    /// Opens the .npz file at `path`.
    public init(path: String) throws(ASTError) {
        try self.init(bytes: BinaryFile.read(path), source: path)
    }

    /// Opens an in-memory .npz archive.
    public init(bytes: [UInt8], source: String = "npz data") throws(ASTError) {
        self.source = source
        self.data = bytes
        let list = try readCentralDirectory(bytes, source: source)
        var byName = [String: Entry]()
        var names = [String]()
        for entry in list {
            let name = entry.fileName.hasSuffix(".npy") ? String(entry.fileName.dropLast(4)) : entry.fileName
            guard byName[name] == nil else {
                throw ASTError(.format, "\(source): member '\(entry.fileName)' appears twice")
            }
            byName[name] = entry
            names.append(name)
        }
        self.entries = byName
        self.names = names
    }

    /// Whether the archive holds an array called `name` (with or without `.npy`).
    public func contains(_ name: String) -> Bool { entry(name) != nil }

    /// Decodes the array `name` (`"theta_start"` or `"theta_start.npy"`).
    public func array(_ name: String) throws(ASTError) -> NDArray {
        let (bytes, where_) = try memberBytes(name)
        return try NPY.decode(bytes, source: where_)
    }

    /// Decodes the unicode string array `name`, e.g. `param_names` as `np.savez` stores a list of str.
    public func strings(_ name: String) throws(ASTError) -> [String] {
        let (bytes, where_) = try memberBytes(name)
        return try NPY.decodeStrings(bytes, source: where_)
    }

    private func arrayName(_ name: String) -> String {
        name.hasSuffix(".npy") ? String(name.dropLast(4)) : name
    }

    /// The member listed as `name` (as `names` spells it), else the one `name` minus ".npy" names:
    /// a member "x.npy.npy" (np.savez(f, **{"x.npy": a})) is found as "x.npy".
    private func entry(_ name: String) -> Entry? { entries[name] ?? entries[arrayName(name)] }

    /// The uncompressed .npy bytes of member `name` and a label for error messages.
    private func memberBytes(_ name: String) throws(ASTError) -> ([UInt8], String) {
        guard let entry = entry(name) else {
            throw ASTError.invalid(
                "\(source): no array named '\(arrayName(name))'; it holds "
                    + names.map { "'\($0)'" }.joined(separator: ", "))
        }
        let label = "\(source) member '\(entry.fileName)'"
        guard entry.flags & 1 == 0 else {
            throw ASTError(.unsupported, "\(label): encrypted members are not supported")
        }
        let at = entry.localHeaderOffset
        guard at <= data.count - 30, readU32(data, at) == 0x0403_4b50 else {
            throw ASTError(.format, "\(label): local header at offset \(at) is missing or out of the file")
        }
        let nameLength = Int(readU16(data, at + 26)), extraLength = Int(readU16(data, at + 28))
        let start = at + 30 + nameLength + extraLength
        guard start <= data.count, entry.compressedSize <= data.count - start else {
            throw ASTError(
                .format,
                "\(label): claims \(entry.compressedSize) bytes at offset \(start) "
                    + "but the archive is only \(data.count) bytes (truncated?)")
        }
        let raw = data[start..<(start + entry.compressedSize)]
        let bytes: [UInt8]
        switch entry.method {
        case 0:
            guard entry.compressedSize == entry.uncompressedSize else {
                throw ASTError(
                    .format,
                    "\(label): stored member has compressed size \(entry.compressedSize) "
                        + "but uncompressed size \(entry.uncompressedSize)")
            }
            bytes = Array(raw)
        case 8:
            guard entry.uncompressedSize <= maxDeflateExpansion(entry.compressedSize) else {
                throw ASTError(
                    .format,
                    "\(label): claims \(entry.uncompressedSize) bytes from "
                        + "\(entry.compressedSize) compressed, more than deflate can produce")
            }
            bytes = try inflateRaw(Array(raw), maxOutput: entry.uncompressedSize, source: label)
            guard bytes.count == entry.uncompressedSize else {
                throw ASTError(
                    .format, "\(label): inflated to \(bytes.count) bytes but the archive says \(entry.uncompressedSize)"
                )
            }
        default:
            throw ASTError(
                .unsupported, "\(label): compression method \(entry.method) is not supported (stored and deflate are)")
        }
        let crc = crc32Checksum(bytes[...])
        guard crc == entry.crc else {
            throw ASTError(
                .format, "\(label): CRC-32 mismatch (archive says \(hex32(entry.crc)), data gives \(hex32(crc)))")
        }
        return (bytes, label)
    }
}

/// Writing .npz archives with stored (uncompressed) members, readable by `np.load`.
public enum NPZWriter {
    /// The .npz bytes holding `arrays` as `<name>.npy`, in order. Uses zip64 records only when
    /// sizes or offsets need them.
    public static func encode(_ arrays: [(name: String, array: NDArray)]) throws(ASTError) -> [UInt8] {
        var out = [UInt8]()
        var central = [UInt8]()
        var seen = Set<String>()
        for (name, array) in arrays {
            guard !name.isEmpty, seen.insert(name).inserted else {
                throw ASTError.invalid("NPZWriter: array name '\(name)' is empty or repeated")
            }
            let fileName = Array((name + ".npy").utf8)
            guard fileName.count <= 0xFFFF else { throw ASTError.invalid("NPZWriter: array name is too long") }
            let member = NPYWriter.encode(array)
            let crc = crc32Checksum(member[...])
            let offset = out.count
            let big = member.count >= 0xFFFF_FFFF || offset >= 0xFFFF_FFFF
            let size32 = big ? UInt32.max : UInt32(member.count)
            // Local header; zip64 extra carries both sizes when they do not fit.
            var local = [UInt8]()
            appendU32(&local, 0x0403_4b50); appendU16(&local, big ? 45 : 20); appendU16(&local, 0)
            appendU16(&local, 0); appendU32(&local, 0x0021_0000)  // method stored; time 0, date 1980-01-01
            appendU32(&local, crc); appendU32(&local, size32); appendU32(&local, size32)
            appendU16(&local, UInt16(fileName.count)); appendU16(&local, big ? 20 : 0)
            local += fileName
            if big {
                appendU16(&local, 1); appendU16(&local, 16)
                appendU64(&local, UInt64(member.count)); appendU64(&local, UInt64(member.count))
            }
            out += local
            out += member
            // Central directory entry.
            appendU32(&central, 0x0201_4b50); appendU16(&central, big ? 45 : 20); appendU16(&central, big ? 45 : 20)
            appendU16(&central, 0); appendU16(&central, 0); appendU32(&central, 0x0021_0000)
            appendU32(&central, crc); appendU32(&central, size32); appendU32(&central, size32)
            appendU16(&central, UInt16(fileName.count)); appendU16(&central, big ? 28 : 0)
            appendU16(&central, 0); appendU16(&central, 0); appendU16(&central, 0)
            appendU32(&central, 0x0180_0000)  // external attributes: a regular file, mode 0600
            appendU32(&central, big ? UInt32.max : UInt32(offset))
            central += fileName
            if big {
                appendU16(&central, 1); appendU16(&central, 24)
                appendU64(&central, UInt64(member.count)); appendU64(&central, UInt64(member.count))
                appendU64(&central, UInt64(offset))
            }
        }
        let centralOffset = out.count
        out += central
        let needs64 = arrays.count >= 0xFFFF || centralOffset >= 0xFFFF_FFFF || central.count >= 0xFFFF_FFFF
        if needs64 {
            let record = out.count
            appendU32(&out, 0x0606_4b50); appendU64(&out, 44); appendU16(&out, 45); appendU16(&out, 45)
            appendU32(&out, 0); appendU32(&out, 0)
            appendU64(&out, UInt64(arrays.count)); appendU64(&out, UInt64(arrays.count))
            appendU64(&out, UInt64(central.count)); appendU64(&out, UInt64(centralOffset))
            appendU32(&out, 0x0706_4b50); appendU32(&out, 0); appendU64(&out, UInt64(record)); appendU32(&out, 1)
        }
        appendU32(&out, 0x0605_4b50); appendU16(&out, 0); appendU16(&out, 0)
        let count16 = needs64 ? UInt16.max : UInt16(arrays.count)
        appendU16(&out, count16); appendU16(&out, count16)
        appendU32(&out, needs64 ? UInt32.max : UInt32(central.count))
        appendU32(&out, needs64 ? UInt32.max : UInt32(centralOffset))
        appendU16(&out, 0)
        return out
    }

    /// Writes `arrays` to `path` as a stored .npz, atomically.
    public static func write(_ arrays: [(name: String, array: NDArray)], path: String) throws(ASTError) {
        try writeFileAtomically(path: path, bytes: encode(arrays))
    }
}

/// Parses the end-of-central-directory record (zip64 when flagged) and every central entry,
/// checking each offset and size against the file before use.
private func readCentralDirectory(_ data: [UInt8], source: String) throws(ASTError) -> [NPZArchive.Entry] {
    guard data.count >= 22 else {
        throw ASTError(.format, "\(source): \(data.count) bytes is too short for a zip (.npz) archive")
    }
    // The EOCD record is the last 22 bytes plus a comment of at most 65535 bytes.
    var eocd = -1
    var i = data.count - 22
    let lowest = max(0, data.count - 22 - 0xFFFF)
    while i >= lowest {
        if readU32(data, i) == 0x0605_4b50 { eocd = i; break }
        i -= 1
    }
    guard eocd >= 0 else {
        throw ASTError(.format, "\(source): not a zip (.npz) archive (no end-of-central-directory record; truncated?)")
    }
    var count = Int(readU16(data, eocd + 10))
    var size = Int(readU32(data, eocd + 12))
    var offset = Int(readU32(data, eocd + 16))
    if count == 0xFFFF || size == 0xFFFF_FFFF || offset == 0xFFFF_FFFF {
        // zip64: a locator sits just before the EOCD and points at the zip64 EOCD record.
        let locator = eocd - 20
        guard locator >= 0, readU32(data, locator) == 0x0706_4b50 else {
            throw ASTError(.format, "\(source): zip64 archive without a zip64 locator")
        }
        let recordU = readU64(data, locator + 8)
        guard data.count >= 56, recordU <= UInt64(data.count - 56), readU32(data, Int(recordU)) == 0x0606_4b50 else {
            throw ASTError(.format, "\(source): zip64 end record is missing or out of the file")
        }
        let record = Int(recordU)
        let count64 = readU64(data, record + 32), size64 = readU64(data, record + 40),
            offset64 = readU64(data, record + 48)
        guard count64 <= UInt64(data.count), size64 <= UInt64(data.count), offset64 <= UInt64(data.count) else {
            throw ASTError(.format, "\(source): zip64 end record claims sizes beyond the file")
        }
        count = Int(count64); size = Int(size64); offset = Int(offset64)
    }
    guard offset <= data.count, size <= data.count - offset else {
        throw ASTError(
            .format,
            "\(source): central directory (offset \(offset), \(size) bytes) lies outside "
                + "the \(data.count)-byte file (truncated?)")
    }
    // Each central entry is at least 46 bytes: a count the directory cannot hold is a lie.
    guard count <= size / 46 else {
        throw ASTError(.format, "\(source): claims \(count) members in a \(size)-byte central directory")
    }
    var entries = [NPZArchive.Entry]()
    entries.reserveCapacity(count)
    var at = offset
    let end = offset + size
    for index in 0..<count {
        guard at <= end - 46, readU32(data, at) == 0x0201_4b50 else {
            throw ASTError(.format, "\(source): central directory entry \(index) is malformed")
        }
        let flags = readU16(data, at + 8)
        let method = readU16(data, at + 10)
        let crc = readU32(data, at + 16)
        var compressed = UInt64(readU32(data, at + 20))
        var uncompressed = UInt64(readU32(data, at + 24))
        let nameLength = Int(readU16(data, at + 28))
        let extraLength = Int(readU16(data, at + 30))
        let commentLength = Int(readU16(data, at + 32))
        var localOffset = UInt64(readU32(data, at + 42))
        let nameStart = at + 46
        guard nameLength + extraLength + commentLength <= end - nameStart else {
            throw ASTError(.format, "\(source): central directory entry \(index) runs past the directory")
        }
        let fileName = String(decoding: data[nameStart..<(nameStart + nameLength)], as: UTF8.self)
        // zip64 extended information: the 64-bit values of the fields that were set to 0xFFFFFFFF.
        var extra = nameStart + nameLength
        let extraEnd = extra + extraLength
        while extra + 4 <= extraEnd {
            let tag = readU16(data, extra), length = Int(readU16(data, extra + 2))
            let body = extra + 4
            guard length <= extraEnd - body else {
                throw ASTError(.format, "\(source): member '\(fileName)' has a malformed extra field")
            }
            if tag == 1 {
                var field = body
                func next() throws(ASTError) -> UInt64 {
                    guard field + 8 <= body + length else {
                        throw ASTError(.format, "\(source): member '\(fileName)' has a short zip64 field")
                    }
                    defer { field += 8 }
                    return readU64(data, field)
                }
                if uncompressed == 0xFFFF_FFFF { uncompressed = try next() }
                if compressed == 0xFFFF_FFFF { compressed = try next() }
                if localOffset == 0xFFFF_FFFF { localOffset = try next() }
            }
            extra = body + length
        }
        guard compressed <= UInt64(data.count), localOffset <= UInt64(data.count),
            uncompressed <= UInt64(Int.max)
        else {
            throw ASTError(.format, "\(source): member '\(fileName)' claims sizes or offsets beyond the file")
        }
        entries.append(
            NPZArchive.Entry(
                fileName: fileName, method: method, flags: flags, crc: crc,
                compressedSize: Int(compressed), uncompressedSize: Int(uncompressed),
                localHeaderOffset: Int(localOffset)))
        at = extraEnd + commentLength
    }
    return entries
}

// Little-endian field access; callers check bounds first.
func readU16(_ d: [UInt8], _ at: Int) -> UInt16 { UInt16(d[at]) | UInt16(d[at + 1]) << 8 }
func readU32(_ d: [UInt8], _ at: Int) -> UInt32 { UInt32(readU16(d, at)) | UInt32(readU16(d, at + 2)) << 16 }
func readU64(_ d: [UInt8], _ at: Int) -> UInt64 { UInt64(readU32(d, at)) | UInt64(readU32(d, at + 4)) << 32 }
func appendU16(_ d: inout [UInt8], _ v: UInt16) {
    d.append(UInt8(truncatingIfNeeded: v)); d.append(UInt8(truncatingIfNeeded: v >> 8))
}
func appendU32(_ d: inout [UInt8], _ v: UInt32) {
    appendU16(&d, UInt16(truncatingIfNeeded: v)); appendU16(&d, UInt16(truncatingIfNeeded: v >> 16))
}
func appendU64(_ d: inout [UInt8], _ v: UInt64) {
    appendU32(&d, UInt32(truncatingIfNeeded: v)); appendU32(&d, UInt32(truncatingIfNeeded: v >> 32))
}
func hex32(_ v: UInt32) -> String {
    let s = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: 8 - s.count) + s
}
