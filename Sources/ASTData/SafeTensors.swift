// SafeTensors: reading and writing the HuggingFace safetensors format. Reading validates the
// whole header against the file size, then loads one tensor at a time with pread, so a multi-GB
// trajectory store streams one expert or tensor at a time.
//
// Layout: u64 little-endian header length N, N bytes of UTF-8 JSON starting with '{' (padded with
// spaces), then the data buffer. The header maps each tensor name to
// {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]} (offsets relative to the buffer),
// plus an optional "__metadata__" object of strings. Tensors are C-order little-endian, and
// together they cover the buffer exactly: no gaps, no overlaps, no trailing bytes.

#if canImport(Glibc)
import Glibc
#endif
import ASTCore

/// Element types of the safetensors format (byte-sized ones; the sub-byte F4/F6 types are
/// recognised but not supported).
public enum SafeTensorsDType: String, Sendable, CaseIterable {
    case bool = "BOOL"
    case u8 = "U8"
    case i8 = "I8"
    case f8E5M2 = "F8_E5M2"
    case f8E4M3 = "F8_E4M3"
    case f8E8M0 = "F8_E8M0"
    case i16 = "I16"
    case u16 = "U16"
    case f16 = "F16"
    case bf16 = "BF16"
    case i32 = "I32"
    case u32 = "U32"
    case f32 = "F32"
    case f64 = "F64"
    case i64 = "I64"
    case u64 = "U64"
    case c64 = "C64"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .bool, .u8, .i8, .f8E5M2, .f8E4M3, .f8E8M0: 1
        case .i16, .u16, .f16, .bf16: 2
        case .i32, .u32, .f32: 4
        case .f64, .i64, .u64, .c64: 8
        }
    }

    /// The NDArray element type holding the same values, if there is one.
    public var ndarrayType: NDArray.DType? {
        switch self {
        case .bool: .bool
        case .u8: .u1
        case .i8: .i1
        case .i32: .i4
        case .i64: .i8
        case .f32: .f4
        case .f64: .f8
        default: nil
        }
    }

    /// The safetensors type of an NDArray element type.
    public init(_ type: NDArray.DType) {
        switch type {
        case .bool: self = .bool
        case .u1: self = .u8
        case .i1: self = .i8
        case .i4: self = .i32
        case .i8: self = .i64
        case .f4: self = .f32
        case .f8: self = .f64
        }
    }

    /// Dtype names the format defines whose elements are smaller than a byte.
    static let subByteNames: Set<String> = ["F4", "F6_E2M3", "F6_E3M2"]
}

/// One tensor's entry in a safetensors header.
public struct SafeTensorsInfo: Sendable, Equatable {
    public let name: String
    public let dtype: SafeTensorsDType
    public let shape: [Int]
    /// Number of elements (1 for a 0-d scalar).
    public let count: Int
    /// Byte range of the tensor within the data buffer (which starts after the header).
    public let dataOffsets: Range<Int>
}

/// A safetensors file opened for reading.
///
/// `init(path:)` reads only the 8-byte length and the header, checks every entry (dtype, shape
/// times element size equal to the offsets span, offsets inside the file, tensors tiling the data
/// buffer with no gap or overlap, metadata values being strings) and keeps the file open; each
/// tensor is then read on demand with pread. Safe to use from several threads at once (pread
/// does not share a file position). `init(bytes:)` does the same over bytes in memory.
///
/// Errors: `.io` for system failures, `.format` for malformed files, `.unsupported` for valid
/// files using a dtype the requested accessor cannot convert.
public final class SafeTensorsFile: Sendable {
    /// Largest header accepted (the reference implementation's limit).
    public static let maxHeaderBytes = 100_000_000

    /// The path or the name given to `init(bytes:source:)`, used in error messages.
    public let source: String
    /// Tensor names in header order.
    public let names: [String]
    /// `__metadata__` entries (empty when the file has none), with keys in header order in
    /// `metadataKeys`.
    public let metadata: [String: String]
    public let metadataKeys: [String]
    /// N, the header's length in bytes; the data buffer starts at byte 8 + N.
    public let headerLength: Int
    /// Size of the data buffer in bytes.
    public let dataLength: Int

    private let infos: [String: SafeTensorsInfo]
    private let storage: Storage

    private enum Storage: Sendable {
        case file(descriptor: Int32)
        case memory([UInt8])
    }

    /// Opens and validates the file at `path`, reading only its header.
    public init(path: String) throws(ASTError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ioError(path, "cannot open", errno) }
        do throws(ASTError) {
            var st = stat()
            guard fstat(fd, &st) == 0 else { throw ioError(path, "cannot stat", errno) }
            guard (st.st_mode & S_IFMT) == S_IFREG else {
                throw ASTError(.io, "\(path): is not a regular file")
            }
            let fileSize = Int(st.st_size)
            let prefix = try readExactly(fd: fd, count: min(8, fileSize), at: 0, path: path)
            let headerLength = try Self.checkPrefix(prefix, fileSize: fileSize, source: path)
            let header = try readExactly(fd: fd, count: headerLength, at: 8, path: path)
            let parsed = try Self.parseHeader(header, dataLength: fileSize - 8 - headerLength, source: path)
            self.source = path
            self.headerLength = headerLength
            self.dataLength = fileSize - 8 - headerLength
            self.names = parsed.names
            self.infos = parsed.infos
            self.metadata = parsed.metadata
            self.metadataKeys = parsed.metadataKeys
            self.storage = .file(descriptor: fd)
        } catch {
            close(fd)
            throw error
        }
    }

    /// Parses and validates an in-memory safetensors file.
    public init(bytes: [UInt8], source: String = "safetensors data") throws(ASTError) {
        let headerLength = try Self.checkPrefix(Array(bytes.prefix(8)), fileSize: bytes.count, source: source)
        let parsed = try Self.parseHeader(
            Array(bytes[8..<(8 + headerLength)]),
            dataLength: bytes.count - 8 - headerLength, source: source)
        self.source = source
        self.headerLength = headerLength
        self.dataLength = bytes.count - 8 - headerLength
        self.names = parsed.names
        self.infos = parsed.infos
        self.metadata = parsed.metadata
        self.metadataKeys = parsed.metadataKeys
        self.storage = .memory(bytes)
    }

    deinit {
        if case .file(let fd) = storage { close(fd) }
    }

    /// Every tensor's entry, in header order.
    public var tensors: [SafeTensorsInfo] { names.compactMap { infos[$0] } }

    /// The entry of tensor `name`, or nil.
    public func info(_ name: String) -> SafeTensorsInfo? { infos[name] }

    public func contains(_ name: String) -> Bool { infos[name] != nil }

    /// The tensor's bytes exactly as stored (little-endian, C order), for any dtype.
    public func rawBytes(_ name: String) throws(ASTError) -> [UInt8] {
        let info = try entry(name)
        return try readData(info.dataOffsets, tensor: name)
    }

    /// The tensor as an NDArray; dtypes without an NDArray equivalent (F16, BF16, U16, ...)
    /// throw `.unsupported` (use `floats` or `rawBytes` for those).
    public func tensor(_ name: String) throws(ASTError) -> NDArray {
        let info = try entry(name)
        guard let type = info.dtype.ndarrayType else {
            throw ASTError(
                .unsupported,
                "\(source): tensor '\(escapedForMessage(name))' has dtype \(info.dtype.rawValue), "
                    + "which NDArray cannot hold; use floats(_:) or rawBytes(_:)")
        }
        return try NDArray(shape: info.shape, dtype: type, bytes: readData(info.dataOffsets, tensor: name))
    }

    /// The tensor's elements as Floats. F32 is read straight into the result; F64, F16, BF16,
    /// BOOL and the integer types are converted (F64 and large integers rounded); the F8 types
    /// and C64 throw `.unsupported`.
    public func floats(_ name: String) throws(ASTError) -> [Float] {
        let info = try entry(name)
        switch info.dtype {
        case .f32:
            return try readFloat32(info, tensor: name)
        case .f8E5M2, .f8E4M3, .f8E8M0, .c64:
            throw ASTError(
                .unsupported,
                "\(source): tensor '\(escapedForMessage(name))' has dtype "
                    + "\(info.dtype.rawValue), which floats(_:) does not convert")
        default:
            let bytes = try readData(info.dataOffsets, tensor: name)
            return convertToFloats(bytes, info.dtype, count: info.count)
        }
    }

    // MARK: Reading data

    private func entry(_ name: String) throws(ASTError) -> SafeTensorsInfo {
        guard let info = infos[name] else {
            throw ASTError.invalid("\(source): no tensor named '\(escapedForMessage(name))'")
        }
        return info
    }

    private func readData(_ range: Range<Int>, tensor: String) throws(ASTError) -> [UInt8] {
        switch storage {
        case .memory(let bytes):
            let start = 8 + headerLength
            return Array(bytes[(start + range.lowerBound)..<(start + range.upperBound)])
        case .file(let fd):
            return try readExactly(fd: fd, count: range.count, at: 8 + headerLength + range.lowerBound, path: source)
        }
    }

    private func readFloat32(_ info: SafeTensorsInfo, tensor: String) throws(ASTError) -> [Float] {
        guard case .file(let fd) = storage else {
            return convertToFloats(try readData(info.dataOffsets, tensor: tensor), .f32, count: info.count)
        }
        // Empty tensors never reach Array(unsafeUninitializedCapacity: 0): see readExactly.
        guard info.count > 0 else { return [] }
        var failure: ASTError?
        // The count comes from a header already checked against the file size, so this
        // allocation is bounded by what the file really holds.
        let values = [Float](unsafeUninitializedCapacity: info.count) { buffer, initialized in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            failure = preadFully(fd: fd, into: raw, at: 8 + headerLength + info.dataOffsets.lowerBound, path: source)
            if failure == nil {
                initialized = info.count
            } else {
                initialized = 0
            }
        }
        if let failure { throw failure }
        #if _endian(big)
        return values.map { Float(bitPattern: $0.bitPattern.byteSwapped) }
        #else
        return values
        #endif
    }

    // MARK: Header validation

    /// Checks the 8-byte prefix against the file size and returns N, before anything is
    /// allocated for the header.
    static func checkPrefix(_ prefix: [UInt8], fileSize: Int, source: String) throws(ASTError) -> Int {
        guard fileSize >= 8, prefix.count >= 8 else {
            throw ASTError(
                .format,
                "\(source): \(fileSize) bytes is too short for a safetensors file "
                    + "(needs an 8-byte header length)")
        }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(prefix[i]) << UInt64(8 * i) }
        guard n <= UInt64(fileSize - 8) else {
            throw ASTError(
                .format,
                "\(source): header length \(n) runs past the end of the file "
                    + "(\(fileSize) bytes)")
        }
        guard n <= UInt64(maxHeaderBytes) else {
            throw ASTError(.format, "\(source): header length \(n) exceeds the limit of \(maxHeaderBytes) bytes")
        }
        guard n >= 2 else {
            throw ASTError(.format, "\(source): header length \(n) is too short for a JSON object")
        }
        return Int(n)
    }

    struct ParsedHeader {
        var names: [String] = []
        var infos: [String: SafeTensorsInfo] = [:]
        var metadata: [String: String] = [:]
        var metadataKeys: [String] = []
    }

    /// Parses the JSON header and checks every entry against a data buffer of `dataLength` bytes.
    static func parseHeader(_ header: [UInt8], dataLength: Int, source: String) throws(ASTError) -> ParsedHeader {
        guard header.first == UInt8(ascii: "{") else {
            throw ASTError(.format, "\(source): header does not start with '{'")
        }
        let json = try JSONValue.parse(header, source: "\(source): header", maxDepth: 8, maxBytes: maxHeaderBytes)
        guard case .object(let object) = json else {
            throw ASTError(.format, "\(source): header is \(json.kindName), not a JSON object")
        }
        var parsed = ParsedHeader()
        for (key, value) in object {
            if key == "__metadata__" {
                guard case .object(let entries) = value else {
                    throw ASTError(.format, "\(source): __metadata__ is \(value.kindName), not an object of strings")
                }
                for (k, v) in entries {
                    guard case .string(let s) = v else {
                        throw ASTError(
                            .format,
                            "\(source): __metadata__ value of '\(escapedForMessage(k))' is "
                                + "\(v.kindName), not a string")
                    }
                    parsed.metadata[k] = s
                    parsed.metadataKeys.append(k)
                }
                continue
            }
            let info = try parseEntry(key, value, dataLength: dataLength, source: source)
            parsed.names.append(key)
            parsed.infos[key] = info
        }
        try checkTiling(parsed.names.compactMap { parsed.infos[$0] }, dataLength: dataLength, source: source)
        return parsed
    }

    private static func parseEntry(
        _ name: String, _ value: JSONValue, dataLength: Int,
        source: String
    ) throws(ASTError) -> SafeTensorsInfo {
        let label = "\(source): tensor '\(escapedForMessage(name))'"
        guard case .object(let fields) = value else {
            throw ASTError(.format, "\(label): entry is \(value.kindName), not an object")
        }
        guard let dtypeValue = fields["dtype"] else { throw ASTError(.format, "\(label): missing \"dtype\"") }
        guard case .string(let dtypeName) = dtypeValue else {
            throw ASTError(.format, "\(label): \"dtype\" is \(dtypeValue.kindName), not a string")
        }
        guard let dtype = SafeTensorsDType(rawValue: dtypeName) else {
            if SafeTensorsDType.subByteNames.contains(dtypeName) {
                throw ASTError(.unsupported, "\(label): sub-byte dtype \(dtypeName) is not supported")
            }
            throw ASTError(.format, "\(label): unknown dtype '\(escapedForMessage(dtypeName))'")
        }
        guard let shapeValue = fields["shape"] else { throw ASTError(.format, "\(label): missing \"shape\"") }
        guard case .array(let dims) = shapeValue else {
            throw ASTError(.format, "\(label): \"shape\" is \(shapeValue.kindName), not an array")
        }
        var shape = [Int]()
        shape.reserveCapacity(dims.count)
        for (i, d) in dims.enumerated() {
            guard let n = d.int, n >= 0 else {
                throw ASTError(.format, "\(label): shape[\(i)] is not a non-negative integer (below 2^53)")
            }
            shape.append(n)
        }
        guard let offsetsValue = fields["data_offsets"] else {
            throw ASTError(.format, "\(label): missing \"data_offsets\"")
        }
        guard case .array(let offsets) = offsetsValue, offsets.count == 2,
            let begin = offsets[0].int, let end = offsets[1].int, begin >= 0, end >= 0
        else {
            throw ASTError(.format, "\(label): \"data_offsets\" is not a pair of non-negative integers (below 2^53)")
        }
        guard begin <= end else {
            throw ASTError(.format, "\(label): data_offsets [\(begin), \(end)] end before they begin")
        }
        guard end <= dataLength else {
            throw ASTError(
                .format,
                "\(label): data_offsets [\(begin), \(end)] run past the end of the "
                    + "\(dataLength)-byte data buffer")
        }
        var count = 1
        for n in shape {
            let (p, overflow) = count.multipliedReportingOverflow(by: n)
            guard !overflow else { throw ASTError(.format, "\(label): shape \(shape) overflows") }
            count = p
        }
        let (byteCount, overflow) = count.multipliedReportingOverflow(by: dtype.size)
        guard !overflow, byteCount == end - begin else {
            throw ASTError(
                .format,
                "\(label): shape \(shape) of \(dtype.rawValue) needs "
                    + "\(overflow ? "more than Int.max" : String(byteCount)) bytes but data_offsets [\(begin), \(end)] "
                    + "span \(end - begin)")
        }
        return SafeTensorsInfo(name: name, dtype: dtype, shape: shape, count: count, dataOffsets: begin..<end)
    }

    /// The tensors, in offset order, must cover [0, dataLength) exactly.
    private static func checkTiling(_ infos: [SafeTensorsInfo], dataLength: Int, source: String) throws(ASTError) {
        let ordered = infos.sorted {
            ($0.dataOffsets.lowerBound, $0.dataOffsets.upperBound) < (
                $1.dataOffsets.lowerBound, $1.dataOffsets.upperBound
            )
        }
        var covered = 0
        var previous: SafeTensorsInfo?
        for info in ordered {
            let begin = info.dataOffsets.lowerBound
            if begin < covered, let previous {
                throw ASTError(
                    .format,
                    "\(source): tensor '\(escapedForMessage(info.name))' at [\(begin), "
                        + "\(info.dataOffsets.upperBound)] overlaps tensor '\(escapedForMessage(previous.name))' at "
                        + "[\(previous.dataOffsets.lowerBound), \(previous.dataOffsets.upperBound)]")
            }
            if begin > covered {
                throw ASTError(
                    .format,
                    "\(source): gap of \(begin - covered) bytes before tensor "
                        + "'\(escapedForMessage(info.name))' at offset \(begin)")
            }
            covered = info.dataOffsets.upperBound
            previous = info
        }
        guard covered == dataLength else {
            throw ASTError(
                .format,
                "\(source): tensors cover \(covered) bytes but the data buffer holds "
                    + "\(dataLength) (\(dataLength - covered) unaccounted bytes at the end)")
        }
    }
}

/// Builds a safetensors file from named tensors and string metadata.
///
/// Tensor names keep their insertion order in the header. The data is laid out by element size,
/// largest first (insertion order among equals), so that with the header padded to a multiple
/// of 8 every tensor starts at an offset aligned to its element size; the file reads with
/// `safetensors.numpy.load_file` and any reader of the format. Encoding is deterministic: the same
/// tensors and metadata give the same bytes.
public struct SafeTensorsWriter: Sendable {
    struct Entry: Sendable {
        var name: String
        var dtype: SafeTensorsDType
        var shape: [Int]
        var bytes: [UInt8]
    }

    private var entries: [Entry] = []
    private var nameSet: Set<String> = []
    /// Metadata keys in the order they will be written.
    public private(set) var metadataKeys: [String] = []
    public private(set) var metadata: [String: String] = [:]

    public init() {}

    /// A writer whose metadata starts as `metadata`, written with keys in code-point order.
    public init(metadata: [String: String]) {
        for key in metadata.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            setMetadata(metadata[key] ?? "", forKey: key)
        }
    }

    /// Sets a metadata entry (a new key goes last; an existing one keeps its place).
    public mutating func setMetadata(_ value: String, forKey key: String) {
        if metadata.updateValue(value, forKey: key) == nil { metadataKeys.append(key) }
    }

    /// Number of tensors added so far.
    public var count: Int { entries.count }

    /// Adds an NDArray under `name` (F32, F64, I64, I32, U8, I8 or BOOL).
    public mutating func add(_ name: String, _ array: NDArray) throws(ASTError) {
        try add(name, dtype: SafeTensorsDType(array.dtype), shape: array.shape, bytes: array.bytes)
    }

    /// Adds Float32 values of shape `shape`.
    public mutating func add(_ name: String, shape: [Int], floats: [Float]) throws(ASTError) {
        try add(name, NDArray(shape: shape, float32: floats))
    }

    /// Adds raw little-endian C-order bytes of any dtype (F16, BF16, ...).
    public mutating func add(_ name: String, dtype: SafeTensorsDType, shape: [Int], bytes: [UInt8]) throws(ASTError) {
        guard name != "__metadata__" else {
            throw ASTError.invalid("SafeTensorsWriter: '__metadata__' is reserved and cannot name a tensor")
        }
        guard !nameSet.contains(name) else {
            throw ASTError.invalid("SafeTensorsWriter: tensor '\(escapedForMessage(name))' was already added")
        }
        let count = try checkedProduct(shape, "SafeTensorsWriter: tensor '\(escapedForMessage(name))' shape \(shape)")
        let (size, overflow) = count.multipliedReportingOverflow(by: dtype.size)
        guard !overflow, size == bytes.count else {
            throw ASTError.shape(
                "SafeTensorsWriter: tensor '\(escapedForMessage(name))' of shape \(shape) and dtype "
                    + "\(dtype.rawValue) needs \(overflow ? "more than Int.max" : String(size)) bytes, "
                    + "got \(bytes.count)"
            )
        }
        entries.append(Entry(name: name, dtype: dtype, shape: shape, bytes: bytes))
        nameSet.insert(name)
    }

    /// The complete file.
    public func encode() throws(ASTError) -> [UInt8] {
        // Data order: element size descending, stable, so every tensor is naturally aligned.
        let order = entries.indices.sorted {
            entries[$0].dtype.size != entries[$1].dtype.size
                ? entries[$0].dtype.size > entries[$1].dtype.size : $0 < $1
        }
        var offsets = [Range<Int>](repeating: 0..<0, count: entries.count)
        var dataLength = 0
        for i in order {
            let (end, overflow) = dataLength.addingReportingOverflow(entries[i].bytes.count)
            guard !overflow else { throw ASTError.invalid("SafeTensorsWriter: total size overflows") }
            offsets[i] = dataLength..<end
            dataLength = end
        }
        var header = JSONObject()
        if !metadataKeys.isEmpty {
            var meta = JSONObject()
            for key in metadataKeys { meta[key] = .string(metadata[key] ?? "") }
            header["__metadata__"] = .object(meta)
        }
        for (i, e) in entries.enumerated() {
            header[e.name] = [
                "dtype": .string(e.dtype.rawValue),
                "shape": .array(e.shape.map { .number(Double($0)) }),
                "data_offsets": [.number(Double(offsets[i].lowerBound)), .number(Double(offsets[i].upperBound))]
            ]
        }
        var headerBytes = try JSONValue.object(header).serializedBytes()
        headerBytes.append(contentsOf: repeatElement(0x20, count: (8 - headerBytes.count % 8) % 8))
        guard headerBytes.count <= SafeTensorsFile.maxHeaderBytes else {
            throw ASTError.invalid(
                "SafeTensorsWriter: header of \(headerBytes.count) bytes exceeds the format's "
                    + "limit of \(SafeTensorsFile.maxHeaderBytes)")
        }
        var out = [UInt8]()
        out.reserveCapacity(8 + headerBytes.count + dataLength)
        appendU64(&out, UInt64(headerBytes.count))
        out.append(contentsOf: headerBytes)
        for i in order { out.append(contentsOf: entries[i].bytes) }
        return out
    }

    /// Writes the file atomically (a crash leaves the old file or the new one, never a torn one).
    public func write(path: String) throws(ASTError) {
        try writeFileAtomically(path: path, bytes: encode())
    }
}

// MARK: - Helpers

/// Reads exactly `count` bytes at `offset`; a file shorter than that is an `.io` error (it
/// shrank after it was opened).
private func readExactly(fd: Int32, count: Int, at offset: Int, path: String) throws(ASTError) -> [UInt8] {
    // Array(unsafeUninitializedCapacity: 0) stores its count (0) into the runtime's shared
    // empty-array object, which ThreadSanitizer reports as a race between threads reading
    // empty tensors at once (harmless: 0 over 0, but it would hide real reports).
    guard count > 0 else { return [] }
    var failure: ASTError?
    let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
        failure = preadFully(fd: fd, into: UnsafeMutableRawBufferPointer(buffer), at: offset, path: path)
        initialized = failure == nil ? count : 0
    }
    if let failure { throw failure }
    return bytes
}

/// Fills `buffer` from `fd` at `offset`, retrying short reads and EINTR.
private func preadFully(
    fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int,
    path: String
) -> ASTError? {
    var done = 0
    while done < buffer.count {
        let n = pread(fd, buffer.baseAddress! + done, min(buffer.count - done, 1 << 30), off_t(offset + done))
        if n < 0 {
            let e = errno
            if e == EINTR { continue }
            return ioError(path, "read of \(buffer.count) bytes at offset \(offset) failed", e)
        }
        if n == 0 {
            return ASTError(
                .io,
                "\(path): file ended at byte \(offset + done) while reading \(buffer.count) bytes "
                    + "at offset \(offset) (was it truncated after opening?)")
        }
        done += n
    }
    return nil
}

/// Little-endian elements of `dtype` (not F8 or C64) as Floats.
private func convertToFloats(_ bytes: [UInt8], _ dtype: SafeTensorsDType, count: Int) -> [Float] {
    bytes.withUnsafeBufferPointer { b -> [Float] in
        func u16(_ i: Int) -> UInt16 { UInt16(b[2 * i]) | UInt16(b[2 * i + 1]) << 8 }
        switch dtype {
        case .bool: return b.map { $0 != 0 ? 1 : 0 }
        case .u8: return b.map { Float($0) }
        case .i8: return b.map { Float(Int8(bitPattern: $0)) }
        case .i16: return (0..<count).map { Float(Int16(bitPattern: u16($0))) }
        case .u16: return (0..<count).map { Float(u16($0)) }
        case .f16: return (0..<count).map { halfToFloat(u16($0)) }
        case .bf16: return (0..<count).map { Float(bitPattern: UInt32(u16($0)) << 16) }
        case .i32: return (0..<count).map { Float(Int32(bitPattern: loadU32(b, 4 * $0))) }
        case .u32: return (0..<count).map { Float(loadU32(b, 4 * $0)) }
        case .f32: return (0..<count).map { Float(bitPattern: loadU32(b, 4 * $0)) }
        case .f64: return (0..<count).map { Float(Double(bitPattern: loadU64(b, 8 * $0))) }
        case .i64: return (0..<count).map { Float(Int64(bitPattern: loadU64(b, 8 * $0))) }
        case .u64: return (0..<count).map { Float(loadU64(b, 8 * $0)) }
        case .f8E5M2, .f8E4M3, .f8E8M0, .c64: return []
        }
    }
}

/// IEEE 754 binary16 to Float (exact).
func halfToFloat(_ h: UInt16) -> Float {
    let sign: UInt32 = UInt32(h & 0x8000) << 16
    let exponent = UInt32(h >> 10) & 0x1f
    let mantissa = UInt32(h & 0x3ff)
    if exponent == 0 {
        // Zero or subnormal: mantissa * 2^-24.
        let magnitude = Float(mantissa) * 0x1p-24
        return Float(bitPattern: sign | magnitude.bitPattern)
    }
    if exponent == 31 { return Float(bitPattern: sign | 0x7f80_0000 | mantissa << 13) }
    return Float(bitPattern: sign | (exponent + 112) << 23 | mantissa << 13)
}
