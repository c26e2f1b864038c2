// NPY: reading and writing NumPy's .npy format (versions 1-3), strictly validated against the
// payload, for the element types of NDArray plus read-only unicode string arrays.

import ASTCore

/// Decoding of .npy files and bytes.
///
/// The header is a Python dict literal; it is parsed by a small strict parser, never evaluated.
/// Big-endian data, Fortran order (beyond the layouts where it equals C order), object arrays and
/// dtypes outside `NDArray.DType` throw `.unsupported`; malformed headers and payloads whose size
/// differs from what the header claims throw `.format`.
public enum NPY {
    /// The magic string every .npy file starts with.
    static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    /// Reads a .npy file.
    public static func read(path: String) throws(ASTError) -> NDArray {
        try decode(BinaryFile.read(path), source: path)
    }

    /// Decodes .npy bytes; `source` names them in error messages.
    public static func decode(_ bytes: [UInt8], source: String = "npy data") throws(ASTError) -> NDArray {
        let header = try parseHeader(bytes, source: source)
        guard case .numeric(let dtype) = header.element else {
            throw unsupportedElement(header, source: source)
        }
        let payload = try payloadBytes(bytes, header, itemSize: dtype.size, source: source)
        return try NDArray(shape: header.shape, dtype: dtype, bytes: payload)
    }

    /// Decodes a .npy array of unicode strings (dtype `<U<n>`, as `np.savez` writes for a list of
    /// names) into Swift strings with the trailing NUL padding removed.
    public static func decodeStrings(_ bytes: [UInt8], source: String = "npy data") throws(ASTError) -> [String] {
        let header = try parseHeader(bytes, source: source)
        guard case .unicode(let chars) = header.element else {
            throw ASTError(.unsupported, "\(source): dtype '\(header.descr)' is not a unicode string array")
        }
        let (itemSize, overflow) = chars.multipliedReportingOverflow(by: 4)
        guard !overflow else { throw ASTError(.format, "\(source): dtype '\(header.descr)' is absurdly wide") }
        let payload = try payloadBytes(bytes, header, itemSize: itemSize, source: source)
        let count = itemSize == 0 ? 0 : payload.count / itemSize
        var strings = [String]()
        strings.reserveCapacity(count)
        for i in 0..<count {
            var scalars = String.UnicodeScalarView()
            for c in 0..<chars {
                let at = i * itemSize + c * 4
                let code =
                    UInt32(payload[at]) | UInt32(payload[at + 1]) << 8
                    | UInt32(payload[at + 2]) << 16 | UInt32(payload[at + 3]) << 24
                if code == 0 { break }
                guard let scalar = Unicode.Scalar(code) else {
                    throw ASTError(.format, "\(source): element \(i) holds an invalid code point \(code)")
                }
                scalars.append(scalar)
            }
            strings.append(String(scalars))
        }
        return strings
    }

    /// What a header's descr describes.
    enum Element: Equatable {
        case numeric(NDArray.DType)
        case unicode(Int)
        case unsupported(String)
    }

    struct Header {
        var descr: String
        var element: Element
        var shape: [Int]
        var dataOffset: Int
    }

    /// Parses and checks the magic, version, header length and dict; the payload is not touched.
    static func parseHeader(_ bytes: [UInt8], source: String) throws(ASTError) -> Header {
        guard bytes.count >= 10 else {
            throw ASTError(.format, "\(source): \(bytes.count) bytes is too short for a .npy file")
        }
        guard Array(bytes[0..<6]) == magic else {
            throw ASTError(.format, "\(source): not a .npy file (magic bytes are wrong)")
        }
        let major = bytes[6]
        let headerLength: Int, start: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            start = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw ASTError(.format, "\(source): truncated .npy header") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            start = 12
        default:
            throw ASTError(.unsupported, "\(source): .npy format version \(major) is not supported (1-3 are)")
        }
        guard headerLength <= bytes.count - start else {
            throw ASTError(
                .format, "\(source): header claims \(headerLength) bytes but only \(bytes.count - start) follow")
        }
        var parser = DictParser(bytes: bytes[start..<(start + headerLength)], source: source)
        let dict = try parser.parseDict()
        guard let descrValue = dict["descr"], let orderValue = dict["fortran_order"], let shapeValue = dict["shape"]
        else {
            throw ASTError(.format, "\(source): header lacks one of 'descr', 'fortran_order', 'shape'")
        }
        guard case .ints(let shape) = shapeValue else {
            throw ASTError(.format, "\(source): header 'shape' is not a tuple of integers")
        }
        guard case .bool(let fortran) = orderValue else {
            throw ASTError(.format, "\(source): header 'fortran_order' is not True or False")
        }
        let descr: String
        switch descrValue {
        case .string(let s): descr = s
        case .other: throw ASTError(.unsupported, "\(source): structured (record) dtypes are not supported")
        default: throw ASTError(.format, "\(source): header 'descr' is not a string")
        }
        for d in shape where d < 0 { throw ASTError(.format, "\(source): negative dimension in shape \(shape)") }
        // Fortran order equals C order when at most one dimension exceeds 1.
        if fortran && shape.filter({ $0 > 1 }).count > 1 {
            throw ASTError(
                .unsupported,
                "\(source): fortran_order arrays of shape \(shape) are not supported; "
                    + "save with np.ascontiguousarray first")
        }
        return Header(descr: descr, element: element(of: descr), shape: shape, dataOffset: start + headerLength)
    }

    /// Classifies a descr string such as `<f8`, `|u1`, `<U17`, `|O`.
    static func element(of descr: String) -> Element {
        var chars = Array(descr)
        var order: Character = "|"
        if let first = chars.first, "<>|=".contains(first) { order = first; chars.removeFirst() }
        let code = String(chars)
        guard let kind = chars.first else { return .unsupported("empty dtype") }
        let digits = String(chars.dropFirst())
        let width = Int(digits)
        if kind == "O" { return .unsupported("object arrays (pickled Python objects) are never loaded") }
        if order == ">" && width != 1 { return .unsupported("big-endian data is not supported; save little-endian") }
        if kind == "U", let width, width >= 0 { return .unicode(width) }
        if let dtype = NDArray.DType(rawValue: code) { return .numeric(dtype) }
        let supported = NDArray.DType.allCases.map(\.rawValue).joined(separator: ", ")
        return .unsupported("element type '\(code)' is not one of \(supported)")
    }

    private static func unsupportedElement(_ header: Header, source: String) -> ASTError {
        switch header.element {
        case .unsupported(let why): ASTError(.unsupported, "\(source): dtype '\(header.descr)': \(why)")
        case .unicode:
            ASTError(
                .unsupported,
                "\(source): dtype '\(header.descr)' is a unicode string array, "
                    + "not numbers (read it with strings instead)")
        case .numeric: ASTError(.internal, "\(source): dtype '\(header.descr)' misclassified")
        }
    }

    /// The payload, which must be exactly `count * itemSize` bytes.
    private static func payloadBytes(
        _ bytes: [UInt8], _ header: Header, itemSize: Int,
        source: String
    ) throws(ASTError) -> [UInt8] {
        var expected = itemSize
        for d in header.shape {
            let (p, overflow) = expected.multipliedReportingOverflow(by: d)
            guard !overflow else { throw ASTError(.format, "\(source): shape \(header.shape) overflows") }
            expected = p
        }
        let actual = bytes.count - header.dataOffset
        guard actual == expected else {
            throw ASTError(
                .format,
                "\(source): shape \(header.shape) of '\(header.descr)' needs \(expected) "
                    + "bytes of data but the file has \(actual)")
        }
        return Array(bytes[header.dataOffset...])
    }
}

/// Encoding of NDArrays as .npy (version 1.0, or 2.0 when the header is too long for 1.0).
public enum NPYWriter {
    /// The .npy bytes of `array`, as `np.save` writes them (header padded to 64 bytes).
    public static func encode(_ array: NDArray) -> [UInt8] {
        let dims = array.shape.map(String.init)
        let shape = dims.count == 1 ? "(\(dims[0]),)" : "(" + dims.joined(separator: ", ") + ")"
        var dict = Array("{'descr': '\(array.dtype.descr)', 'fortran_order': False, 'shape': \(shape), }".utf8)
        let long = dict.count + 1 + 10 > 65535
        let prefix = long ? 12 : 10
        let padding = (64 - (prefix + dict.count + 1) % 64) % 64
        dict += [UInt8](repeating: 0x20, count: padding) + [0x0a]
        var out = NPY.magic + [long ? 2 : 1, 0]
        let n = dict.count
        out += [UInt8(truncatingIfNeeded: n), UInt8(truncatingIfNeeded: n >> 8)]
        if long { out += [UInt8(truncatingIfNeeded: n >> 16), UInt8(truncatingIfNeeded: n >> 24)] }
        out += dict
        out += array.bytes
        return out
    }

    /// Writes `array` to `path` as .npy, atomically.
    public static func write(_ array: NDArray, path: String) throws(ASTError) {
        try writeFileAtomically(path: path, bytes: encode(array))
    }
}

/// A strict parser for the Python dict literal of a .npy header: string keys; values that are
/// strings, True/False, tuples of integers, or anything else bracketed (kept as `.other`).
struct DictParser {
    enum Value: Equatable {
        case string(String)
        case bool(Bool)
        case ints([Int])
        case other
    }

    let bytes: ArraySlice<UInt8>
    let source: String
    var at: Int

    init(bytes: ArraySlice<UInt8>, source: String) {
        self.bytes = bytes
        self.source = source
        self.at = bytes.startIndex
    }

    private func fail(_ why: String) -> ASTError {
        ASTError(.format, "\(source): malformed .npy header (\(why))")
    }

    private mutating func skipSpace() {
        while at < bytes.endIndex, [0x20, 0x09, 0x0a, 0x0d].contains(bytes[at]) { at += 1 }
    }

    private mutating func expect(_ c: Character) throws(ASTError) {
        skipSpace()
        guard at < bytes.endIndex, bytes[at] == c.asciiValue! else { throw fail("expected '\(c)'") }
        at += 1
    }

    private mutating func peek() -> UInt8? {
        skipSpace()
        return at < bytes.endIndex ? bytes[at] : nil
    }

    mutating func parseDict() throws(ASTError) -> [String: Value] {
        try expect("{")
        var dict = [String: Value]()
        while true {
            if peek() == UInt8(ascii: "}") { at += 1; break }
            let key = try parseString()
            try expect(":")
            dict[key] = try parseValue()
            switch peek() {
            case UInt8(ascii: ","): at += 1
            case UInt8(ascii: "}"): at += 1; return dict
            default: throw fail("expected ',' or '}' after the value of '\(key)'")
            }
        }
        return dict
    }

    private mutating func parseString() throws(ASTError) -> String {
        guard let quote = peek(), quote == UInt8(ascii: "'") || quote == UInt8(ascii: "\"") else {
            throw fail("expected a quoted string")
        }
        at += 1
        let start = at
        while at < bytes.endIndex, bytes[at] != quote {
            guard bytes[at] != UInt8(ascii: "\\") else { throw fail("escapes in strings are not supported") }
            at += 1
        }
        guard at < bytes.endIndex else { throw fail("unterminated string") }
        let text = String(decoding: bytes[start..<at], as: UTF8.self)
        at += 1
        return text
    }

    private mutating func parseValue() throws(ASTError) -> Value {
        guard let c = peek() else { throw fail("missing value") }
        switch c {
        case UInt8(ascii: "'"), UInt8(ascii: "\""):
            return .string(try parseString())
        case UInt8(ascii: "("):
            at += 1
            var ints = [Int]()
            while true {
                guard let next = peek() else { throw fail("unterminated tuple") }
                if next == UInt8(ascii: ")") { at += 1; return .ints(ints) }
                ints.append(try parseInt())
                switch peek() {
                case UInt8(ascii: ","): at += 1
                case UInt8(ascii: ")"): continue
                default: throw fail("expected ',' or ')' in the shape tuple")
                }
            }
        case UInt8(ascii: "["), UInt8(ascii: "{"):
            try skipBracketed()
            return .other
        default:
            if matchWord("True") { return .bool(true) }
            if matchWord("False") { return .bool(false) }
            throw fail("unexpected value")
        }
    }

    private mutating func matchWord(_ word: String) -> Bool {
        let w = Array(word.utf8)
        guard bytes.endIndex - at >= w.count, Array(bytes[at..<(at + w.count)]) == w else { return false }
        at += w.count
        return true
    }

    private mutating func parseInt() throws(ASTError) -> Int {
        skipSpace()
        var value = 0
        var digits = 0
        while at < bytes.endIndex, bytes[at] >= 0x30, bytes[at] <= 0x39 {
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(Int(bytes[at] - 0x30))
            guard !o1, !o2 else { throw fail("dimension too large") }
            value = s
            digits += 1
            at += 1
        }
        guard digits > 0 else { throw fail("expected a non-negative integer") }
        if at < bytes.endIndex, bytes[at] == UInt8(ascii: "L") { at += 1 }  // Python 2 longs
        return value
    }

    /// Skips a bracketed value, nesting and strings included.
    private mutating func skipBracketed() throws(ASTError) {
        var depth = 0
        while at < bytes.endIndex {
            let c = bytes[at]
            if c == UInt8(ascii: "'") || c == UInt8(ascii: "\"") { _ = try parseString(); continue }
            if c == UInt8(ascii: "[") || c == UInt8(ascii: "(") || c == UInt8(ascii: "{") { depth += 1 }
            if c == UInt8(ascii: "]") || c == UInt8(ascii: ")") || c == UInt8(ascii: "}") {
                depth -= 1
                if depth == 0 { at += 1; return }
            }
            at += 1
        }
        throw fail("unterminated bracket")
    }
}
