// NDArray: an n-dimensional array of one of the NumPy element types libast exchanges, kept as
// its little-endian bytes, with checked conversions to Swift numbers.

import ASTCore

/// An array as NumPy stores it: a shape, an element type and C-order little-endian bytes.
///
/// Holding the raw bytes keeps a loaded file exact (no lossy conversion until asked) and makes
/// writing it back byte-identical.
public struct NDArray: Sendable, Equatable {
    /// The element types libast reads and writes, named by NumPy's `dtype.str` without the
    /// byte-order character.
    public enum DType: String, Sendable, CaseIterable {
        case u1, i1, i4, i8, f4, f8
        case bool = "b1"

        /// Bytes per element.
        public var size: Int {
            switch self {
            case .u1, .i1, .bool: 1
            case .i4, .f4: 4
            case .i8, .f8: 8
            }
        }

        /// NumPy's descr string, e.g. `<f8` or `|u1`.
        public var descr: String { (size == 1 ? "|" : "<") + rawValue }
    }

    public let shape: [Int]
    public let dtype: DType
    /// `count * dtype.size` bytes, C order, little-endian.
    public let bytes: [UInt8]

    /// Number of elements (product of `shape`; 1 for a 0-d scalar).
    public var count: Int { bytes.count / dtype.size }

    /// Wraps raw little-endian bytes; `bytes.count` must equal the shape's element count times
    /// the element size.
    public init(shape: [Int], dtype: DType, bytes: [UInt8]) throws(ASTError) {
        let n = try checkedProduct(shape, "NDArray shape \(shape)")
        let (size, overflow) = n.multipliedReportingOverflow(by: dtype.size)
        guard !overflow else { throw ASTError.invalid("NDArray shape \(shape): byte size overflows") }
        guard bytes.count == size else {
            throw ASTError.shape("NDArray: shape \(shape) of \(dtype.descr) needs \(size) bytes, got \(bytes.count)")
        }
        self.shape = shape
        self.dtype = dtype
        self.bytes = bytes
    }

    public init(shape: [Int], float32 values: [Float]) throws(ASTError) {
        try self.init(shape: shape, dtype: .f4, bytes: littleEndianBytes(values.map { $0.bitPattern }))
    }

    public init(shape: [Int], float64 values: [Double]) throws(ASTError) {
        try self.init(shape: shape, dtype: .f8, bytes: littleEndianBytes(values.map { $0.bitPattern }))
    }

    public init(shape: [Int], int64 values: [Int64]) throws(ASTError) {
        try self.init(shape: shape, dtype: .i8, bytes: littleEndianBytes(values.map { UInt64(bitPattern: $0) }))
    }

    public init(shape: [Int], int32 values: [Int32]) throws(ASTError) {
        try self.init(shape: shape, dtype: .i4, bytes: littleEndianBytes(values.map { UInt32(bitPattern: $0) }))
    }

    public init(shape: [Int], uint8 values: [UInt8]) throws(ASTError) {
        try self.init(shape: shape, dtype: .u1, bytes: values)
    }

    public init(shape: [Int], int8 values: [Int8]) throws(ASTError) {
        try self.init(shape: shape, dtype: .i1, bytes: values.map { UInt8(bitPattern: $0) })
    }

    public init(shape: [Int], bool values: [Bool]) throws(ASTError) {
        try self.init(shape: shape, dtype: .bool, bytes: values.map { $0 ? 1 : 0 })
    }

    /// Every element as Double (exact for all types but i8 beyond 2^53).
    public func doubles() -> [Double] {
        let n = count
        return bytes.withUnsafeBufferPointer { b -> [Double] in
            switch dtype {
            case .u1: return b.map { Double($0) }
            case .i1: return b.map { Double(Int8(bitPattern: $0)) }
            case .bool: return b.map { $0 != 0 ? 1 : 0 }
            case .i4: return (0..<n).map { Double(Int32(bitPattern: loadU32(b, $0 * 4))) }
            case .i8: return (0..<n).map { Double(Int64(bitPattern: loadU64(b, $0 * 8))) }
            case .f4: return (0..<n).map { Double(Float(bitPattern: loadU32(b, $0 * 4))) }
            case .f8: return (0..<n).map { Double(bitPattern: loadU64(b, $0 * 8)) }
            }
        }
    }

    /// Every element as Float (f8 values are rounded; out-of-range ones become ±infinity).
    public func floats() -> [Float] {
        let n = count
        return bytes.withUnsafeBufferPointer { b -> [Float] in
            switch dtype {
            case .u1: return b.map { Float($0) }
            case .i1: return b.map { Float(Int8(bitPattern: $0)) }
            case .bool: return b.map { $0 != 0 ? 1 : 0 }
            case .i4: return (0..<n).map { Float(Int32(bitPattern: loadU32(b, $0 * 4))) }
            case .i8: return (0..<n).map { Float(Int64(bitPattern: loadU64(b, $0 * 8))) }
            case .f4: return (0..<n).map { Float(bitPattern: loadU32(b, $0 * 4)) }
            case .f8: return (0..<n).map { Float(Double(bitPattern: loadU64(b, $0 * 8))) }
            }
        }
    }

    /// Every element as Int64. Floating-point elements must be whole numbers in Int64's range
    /// (a NaN or 0.5 throws `.format` naming the index rather than trapping or truncating).
    public func int64s() throws(ASTError) -> [Int64] {
        let n = count
        switch dtype {
        case .u1, .bool: return bytes.map { Int64($0) }
        case .i1: return bytes.map { Int64(Int8(bitPattern: $0)) }
        case .i4:
            return bytes.withUnsafeBufferPointer { b in (0..<n).map { Int64(Int32(bitPattern: loadU32(b, $0 * 4))) } }
        case .i8: return bytes.withUnsafeBufferPointer { b in (0..<n).map { Int64(bitPattern: loadU64(b, $0 * 8)) } }
        case .f4, .f8:
            let values = doubles()
            var result = [Int64]()
            result.reserveCapacity(n)
            for (i, v) in values.enumerated() {
                guard let exact = Int64(exactly: v) else {
                    throw ASTError(
                        .format, "NDArray.int64s: element \(i) = \(v) is not a whole number in Int64's range")
                }
                result.append(exact)
            }
            return result
        }
    }

    /// The value of a one-element array (a 0-d scalar such as `syn_lr`, or shape [1]).
    public var scalarDouble: Double {
        get throws(ASTError) {
            guard count == 1 else {
                throw ASTError.shape("NDArray.scalarDouble: array of shape \(shape) has \(count) elements, not 1")
            }
            return doubles()[0]
        }
    }
}

@inline(__always)
func loadU32(_ b: UnsafeBufferPointer<UInt8>, _ at: Int) -> UInt32 {
    UInt32(b[at]) | UInt32(b[at + 1]) << 8 | UInt32(b[at + 2]) << 16 | UInt32(b[at + 3]) << 24
}

@inline(__always)
func loadU64(_ b: UnsafeBufferPointer<UInt8>, _ at: Int) -> UInt64 {
    UInt64(loadU32(b, at)) | UInt64(loadU32(b, at + 4)) << 32
}

func littleEndianBytes(_ words: [UInt32]) -> [UInt8] {
    var out = [UInt8]()
    out.reserveCapacity(words.count * 4)
    for w in words {
        out.append(UInt8(truncatingIfNeeded: w)); out.append(UInt8(truncatingIfNeeded: w >> 8))
        out.append(UInt8(truncatingIfNeeded: w >> 16)); out.append(UInt8(truncatingIfNeeded: w >> 24))
    }
    return out
}

func littleEndianBytes(_ words: [UInt64]) -> [UInt8] {
    var out = [UInt8]()
    out.reserveCapacity(words.count * 8)
    for w in words {
        for shift in stride(from: 0, to: 64, by: 8) { out.append(UInt8(truncatingIfNeeded: w >> UInt64(shift))) }
    }
    return out
}
