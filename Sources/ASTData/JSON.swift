// JSON: a strict RFC 8259 parser and a deterministic serializer, without Foundation, for
// safetensors headers, run manifests and metadata.

import ASTCore

/// A JSON value. Objects keep their keys in insertion (file) order, so parsing and serializing
/// again gives the same key order, and a writer produces the same bytes on every run.
///
/// Numbers are Doubles: integers are exact up to 2^53, which `int` enforces.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    /// Nesting limit of `parse` by default: deeper input is rejected rather than recursed into.
    public static let defaultMaxDepth = 64
    /// Largest `maxDepth` accepted: the parser recurses once per level, and this bounds its stack
    /// use on any thread.
    public static let maxAllowedDepth = 256
    /// Size limit of `parse` by default (128 MiB; safetensors headers are capped at 100 MB).
    public static let defaultMaxBytes = 1 << 27

    // MARK: Accessors

    /// The member `key` of an object; nil for a missing key or a value that is not an object.
    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    /// The element `index` of an array; nil when out of range or not an array.
    public subscript(index: Int) -> JSONValue? {
        if case .array(let a) = self, index >= 0, index < a.count { return a[index] }
        return nil
    }

    public var double: Double? {
        if case .number(let v) = self { return v }
        return nil
    }

    /// The number as an Int when it is a whole number of magnitude below 2^53. From 2^53 on a
    /// Double no longer tells neighbouring integers apart (9007199254740993 parses as ...992), so
    /// such a value is not known exactly and gives nil.
    public var int: Int? {
        guard case .number(let v) = self, v.magnitude < 9_007_199_254_740_992, v == v.rounded(.towardZero) else {
            return nil
        }
        return Int(exactly: v)
    }

    public var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var bool: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    public var array: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var object: JSONObject? {
        if case .object(let o) = self { return o }
        return nil
    }

    public var isNull: Bool { self == .null }

    /// The JSON type name, for error messages ("a number", "an object", ...).
    public var kindName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    // MARK: Parsing

    /// Parses `text` as one JSON document (RFC 8259, strict: no comments, trailing commas,
    /// leading zeros, single quotes, NaN, lone surrogates or duplicate keys). Errors are
    /// `.format` and name `source` and the byte offset of the problem; input longer than
    /// `maxBytes` or nested deeper than `maxDepth` (at most `maxAllowedDepth`) is rejected.
    public static func parse(
        _ text: String, source: String = "JSON", maxDepth: Int = defaultMaxDepth,
        maxBytes: Int = defaultMaxBytes
    ) throws(ASTError) -> JSONValue {
        try parse(Array(text.utf8), source: source, maxDepth: maxDepth, maxBytes: maxBytes)
    }

    /// Parses UTF-8 bytes as one JSON document; invalid UTF-8 is rejected.
    public static func parse(
        _ bytes: [UInt8], source: String = "JSON", maxDepth: Int = defaultMaxDepth,
        maxBytes: Int = defaultMaxBytes
    ) throws(ASTError) -> JSONValue {
        guard (0...maxAllowedDepth).contains(maxDepth) else {
            throw ASTError.invalid("\(source): maxDepth must be in 0...\(maxAllowedDepth), got \(maxDepth)")
        }
        guard bytes.count <= maxBytes else {
            throw ASTError(.format, "\(source): \(bytes.count) bytes of JSON exceed the limit of \(maxBytes) bytes")
        }
        let result: Result<JSONValue, ASTError> = bytes.withUnsafeBufferPointer { buffer in
            var parser = JSONParser(bytes: buffer, maxDepth: maxDepth, source: source)
            do throws(ASTError) {
                return .success(try parser.parseDocument())
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    // MARK: Serializing

    /// The value as JSON text: compact by default, or indented by two spaces per level with
    /// `pretty`. Object keys come in insertion order, or in code-point order with `sortedKeys`.
    /// Throws `.invalidArgument` naming the path (`$.a[2]`) of a NaN or infinite number, which
    /// JSON cannot represent.
    public func serialized(pretty: Bool = false, sortedKeys: Bool = false) throws(ASTError) -> String {
        String(decoding: try serializedBytes(pretty: pretty, sortedKeys: sortedKeys), as: UTF8.self)
    }

    /// `serialized` as UTF-8 bytes.
    public func serializedBytes(pretty: Bool = false, sortedKeys: Bool = false) throws(ASTError) -> [UInt8] {
        var writer = JSONWriter(pretty: pretty, sortedKeys: sortedKeys)
        try writer.write(self, depth: 0)
        return writer.out
    }

    /// The shortest text that reads back as `value` (integers without ".0"), or nil for NaN and
    /// infinities.
    public static func formatNumber(_ value: Double) -> String? {
        guard value.isFinite else { return nil }
        if value.magnitude < 9_007_199_254_740_992, value == value.rounded(.towardZero) {
            if value == 0 { return value.sign == .minus ? "-0" : "0" }
            return String(Int64(value))
        }
        return value.description
    }
}

extension JSONValue: ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByStringLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        var o = JSONObject()
        for (k, v) in elements { o[k] = v }
        self = .object(o)
    }
}

/// A JSON object: string keys in insertion order, each at most once. Equality ignores key order
/// (as JSON does); serialization keeps it.
public struct JSONObject: Sendable, Equatable, Sequence, ExpressibleByDictionaryLiteral {
    /// Keys in insertion order.
    public private(set) var keys: [String] = []
    private var storage: [String: JSONValue] = [:]

    public init() {}

    /// Pairs in order; a repeated key keeps its first position and its last value.
    public init(_ pairs: [(String, JSONValue)]) {
        for (k, v) in pairs { self[k] = v }
    }

    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.init(elements)
    }

    public var count: Int { keys.count }
    public var isEmpty: Bool { keys.isEmpty }

    /// The value of `key`; assigning nil removes the key, assigning to a new key appends it.
    public subscript(key: String) -> JSONValue? {
        get { storage[key] }
        set {
            if let newValue {
                if storage.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if storage.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    /// Key-value pairs in order.
    public var entries: [(key: String, value: JSONValue)] {
        keys.map { ($0, storage[$0] ?? .null) }
    }

    public func makeIterator() -> IndexingIterator<[(key: String, value: JSONValue)]> {
        entries.makeIterator()
    }

    public static func == (a: JSONObject, b: JSONObject) -> Bool { a.storage == b.storage }
}

// MARK: - Parser

private struct JSONParser {
    let bytes: UnsafeBufferPointer<UInt8>
    let maxDepth: Int
    let source: String
    var at = 0

    init(bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int, source: String) {
        self.bytes = bytes
        self.maxDepth = maxDepth
        self.source = source
    }

    func error(_ what: String, at offset: Int? = nil) -> ASTError {
        ASTError(.format, "\(source): \(what) at byte offset \(offset ?? at)")
    }

    /// "'x'" for printable ASCII, "byte 0xNN" otherwise, "end of input" past the end.
    func describeCurrent() -> String {
        guard at < bytes.count else { return "end of input" }
        let c = bytes[at]
        if c >= 0x21 && c < 0x7f { return "'\(Character(Unicode.Scalar(c)))'" }
        return "byte 0x" + hexByte(c)
    }

    mutating func skipWhitespace() {
        while at < bytes.count {
            switch bytes[at] {
            case 0x20, 0x09, 0x0a, 0x0d: at += 1
            default: return
            }
        }
    }

    mutating func parseDocument() throws(ASTError) -> JSONValue {
        skipWhitespace()
        let value = try parseValue(depth: 0)
        skipWhitespace()
        guard at == bytes.count else { throw error("unexpected \(describeCurrent()) after the JSON value") }
        return value
    }

    mutating func parseValue(depth: Int) throws(ASTError) -> JSONValue {
        guard at < bytes.count else { throw error("unexpected end of input where a value was expected") }
        switch bytes[at] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw error("unexpected \(describeCurrent()) where a value was expected")
        }
    }

    mutating func expectLiteral(_ word: StaticString) throws(ASTError) {
        let start = at
        let n = word.utf8CodeUnitCount
        guard bytes.count - at >= n else { throw error("invalid literal (expected '\(word)')", at: start) }
        for i in 0..<n where bytes[at + i] != word.utf8Start[i] {
            throw error("invalid literal (expected '\(word)')", at: start)
        }
        at += n
    }

    mutating func checkDepth(_ depth: Int) throws(ASTError) {
        guard depth <= maxDepth else { throw error("nesting deeper than the limit of \(maxDepth)") }
    }

    mutating func parseArray(depth: Int) throws(ASTError) -> JSONValue {
        try checkDepth(depth)
        at += 1  // '['
        var elements = [JSONValue]()
        skipWhitespace()
        if at < bytes.count, bytes[at] == UInt8(ascii: "]") { at += 1; return .array(elements) }
        while true {
            skipWhitespace()
            if at < bytes.count, bytes[at] == UInt8(ascii: "]") { throw error("trailing comma in array") }
            elements.append(try parseValue(depth: depth))
            skipWhitespace()
            guard at < bytes.count else { throw error("unexpected end of input in array (expected ',' or ']')") }
            switch bytes[at] {
            case UInt8(ascii: ","): at += 1
            case UInt8(ascii: "]"): at += 1; return .array(elements)
            default: throw error("expected ',' or ']' in array, found \(describeCurrent())")
            }
        }
    }

    mutating func parseObject(depth: Int) throws(ASTError) -> JSONValue {
        try checkDepth(depth)
        at += 1  // '{'
        var object = JSONObject()
        skipWhitespace()
        if at < bytes.count, bytes[at] == UInt8(ascii: "}") { at += 1; return .object(object) }
        while true {
            skipWhitespace()
            guard at < bytes.count else { throw error("unexpected end of input in object (expected a key)") }
            if bytes[at] == UInt8(ascii: "}") { throw error("trailing comma in object") }
            guard bytes[at] == UInt8(ascii: "\"") else {
                throw error("expected a string key in object, found \(describeCurrent())")
            }
            let keyStart = at
            let key = try parseString()
            guard object[key] == nil else { throw error("duplicate key \"\(escapedForMessage(key))\"", at: keyStart) }
            skipWhitespace()
            guard at < bytes.count, bytes[at] == UInt8(ascii: ":") else {
                throw error("expected ':' after object key, found \(describeCurrent())")
            }
            at += 1
            skipWhitespace()
            object[key] = try parseValue(depth: depth)
            skipWhitespace()
            guard at < bytes.count else { throw error("unexpected end of input in object (expected ',' or '}')") }
            switch bytes[at] {
            case UInt8(ascii: ","): at += 1
            case UInt8(ascii: "}"): at += 1; return .object(object)
            default: throw error("expected ',' or '}' in object, found \(describeCurrent())")
            }
        }
    }

    /// Number per RFC 8259: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, finite as a Double.
    mutating func parseNumber() throws(ASTError) -> Double {
        let start = at
        func isDigit(_ i: Int) -> Bool { i < bytes.count && bytes[i] >= 0x30 && bytes[i] <= 0x39 }
        if bytes[at] == UInt8(ascii: "-") { at += 1 }
        guard isDigit(at) else { throw error("expected a digit in number, found \(describeCurrent())") }
        if bytes[at] == UInt8(ascii: "0") {
            at += 1
            if isDigit(at) { throw error("number has a leading zero", at: start) }
        } else {
            while isDigit(at) { at += 1 }
        }
        if at < bytes.count, bytes[at] == UInt8(ascii: ".") {
            at += 1
            guard isDigit(at) else {
                throw error("expected a digit after the decimal point, found \(describeCurrent())")
            }
            while isDigit(at) { at += 1 }
        }
        if at < bytes.count, bytes[at] == UInt8(ascii: "e") || bytes[at] == UInt8(ascii: "E") {
            at += 1
            if at < bytes.count, bytes[at] == UInt8(ascii: "+") || bytes[at] == UInt8(ascii: "-") { at += 1 }
            guard isDigit(at) else { throw error("expected a digit in the exponent, found \(describeCurrent())") }
            while isDigit(at) { at += 1 }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<at]), as: UTF8.self)
        guard let value = Double(text), value.isFinite else {
            throw error("number \(text.count > 40 ? String(text.prefix(40)) + "..." : text) is out of range", at: start)
        }
        return value
    }

    /// A string starting at the opening quote; validates UTF-8 and escapes.
    mutating func parseString() throws(ASTError) -> String {
        let open = at
        at += 1
        var out = [UInt8]()
        while true {
            guard at < bytes.count else { throw error("unterminated string (opened at byte offset \(open))") }
            let c = bytes[at]
            switch c {
            case UInt8(ascii: "\""):
                at += 1
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                try parseEscape(into: &out)
            case 0..<0x20:
                throw error("unescaped control character 0x\(hexByte(c)) in string")
            case 0x20..<0x80:
                out.append(c)
                at += 1
            default:
                let n = try utf8SequenceLength()
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[at..<(at + n)]))
                at += n
            }
        }
    }

    /// Length of the valid UTF-8 sequence of 2-4 bytes at `at` (Unicode Table 3-7), or an error.
    func utf8SequenceLength() throws(ASTError) -> Int {
        let lead = bytes[at]
        let n: Int
        var low: UInt8 = 0x80, high: UInt8 = 0xbf
        switch lead {
        case 0xc2...0xdf: n = 2
        case 0xe0: n = 3; low = 0xa0
        case 0xe1...0xec, 0xee...0xef: n = 3
        case 0xed: n = 3; high = 0x9f
        case 0xf0: n = 4; low = 0x90
        case 0xf1...0xf3: n = 4
        case 0xf4: n = 4; high = 0x8f
        default: throw error("invalid UTF-8 byte 0x\(hexByte(lead))")
        }
        for i in 1..<n {
            guard at + i < bytes.count else { throw error("truncated UTF-8 sequence") }
            let c = bytes[at + i]
            let (lo, hi) = i == 1 ? (low, high) : (UInt8(0x80), UInt8(0xbf))
            guard c >= lo && c <= hi else { throw error("invalid UTF-8 sequence") }
        }
        return n
    }

    mutating func parseEscape(into out: inout [UInt8]) throws(ASTError) {
        let start = at
        guard at + 1 < bytes.count else { throw error("unterminated escape sequence") }
        let e = bytes[at + 1]
        at += 2
        switch e {
        case UInt8(ascii: "\""): out.append(0x22)
        case UInt8(ascii: "\\"): out.append(0x5c)
        case UInt8(ascii: "/"): out.append(0x2f)
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "f"): out.append(0x0c)
        case UInt8(ascii: "n"): out.append(0x0a)
        case UInt8(ascii: "r"): out.append(0x0d)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "u"):
            let unit = try hex4(escapeStart: start)
            var scalar = UInt32(unit)
            if (0xd800...0xdbff).contains(unit) {
                guard at + 1 < bytes.count, bytes[at] == UInt8(ascii: "\\"), bytes[at + 1] == UInt8(ascii: "u") else {
                    throw error("lone high surrogate \\u\(hex16(unit)) (not followed by a low surrogate)", at: start)
                }
                let lowStart = at
                at += 2
                let low = try hex4(escapeStart: lowStart)
                guard (0xdc00...0xdfff).contains(low) else {
                    throw error(
                        "high surrogate \\u\(hex16(unit)) followed by \\u\(hex16(low)), not a low surrogate",
                        at: start)
                }
                scalar = 0x10000 + ((UInt32(unit) - 0xd800) << 10) + (UInt32(low) - 0xdc00)
            } else if (0xdc00...0xdfff).contains(unit) {
                throw error("lone low surrogate \\u\(hex16(unit))", at: start)
            }
            appendUTF8(scalar, to: &out)
        default:
            throw error(
                "invalid escape sequence "
                    + "'\\\(e >= 0x21 && e < 0x7f ? String(Character(Unicode.Scalar(e))) : "0x" + hexByte(e))'",
                at: start)
        }
    }

    /// Four hex digits at `at` (after "\u").
    mutating func hex4(escapeStart: Int) throws(ASTError) -> UInt16 {
        guard bytes.count - at >= 4 else { throw error("truncated \\u escape", at: escapeStart) }
        var v: UInt16 = 0
        for i in 0..<4 {
            let c = bytes[at + i]
            let d: UInt8
            switch c {
            case 0x30...0x39: d = c - 0x30
            case 0x41...0x46: d = c - 0x41 + 10
            case 0x61...0x66: d = c - 0x61 + 10
            default: throw error("invalid hex digit in \\u escape", at: escapeStart)
            }
            v = v << 4 | UInt16(d)
        }
        at += 4
        return v
    }
}

private func appendUTF8(_ scalar: UInt32, to out: inout [UInt8]) {
    switch scalar {
    case 0..<0x80:
        out.append(UInt8(scalar))
    case 0x80..<0x800:
        out.append(0xc0 | UInt8(scalar >> 6)); out.append(0x80 | UInt8(scalar & 0x3f))
    case 0x800..<0x10000:
        out.append(0xe0 | UInt8(scalar >> 12)); out.append(0x80 | UInt8((scalar >> 6) & 0x3f))
        out.append(0x80 | UInt8(scalar & 0x3f))
    default:
        out.append(0xf0 | UInt8(scalar >> 18)); out.append(0x80 | UInt8((scalar >> 12) & 0x3f))
        out.append(0x80 | UInt8((scalar >> 6) & 0x3f)); out.append(0x80 | UInt8(scalar & 0x3f))
    }
}

private let hexDigits = Array("0123456789abcdef".utf8)

private func hexByte(_ b: UInt8) -> String {
    String(decoding: [hexDigits[Int(b >> 4)], hexDigits[Int(b & 0xf)]], as: UTF8.self)
}

private func hex16(_ v: UInt16) -> String {
    hexByte(UInt8(v >> 8)) + hexByte(UInt8(truncatingIfNeeded: v))
}

/// A key shortened and stripped of control characters for an error message.
func escapedForMessage(_ s: String) -> String {
    let clipped =
        s.unicodeScalars.count > 64 ? String(String.UnicodeScalarView(s.unicodeScalars.prefix(64))) + "..." : s
    return String(
        String.UnicodeScalarView(clipped.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7f ? "?" : $0 }))
}

// MARK: - Writer

private struct JSONWriter {
    let pretty: Bool
    let sortedKeys: Bool
    var out = [UInt8]()
    /// Path components of the value being written, for error messages.
    var path = [String]()

    init(pretty: Bool, sortedKeys: Bool) {
        self.pretty = pretty
        self.sortedKeys = sortedKeys
    }

    mutating func newline(_ depth: Int) {
        guard pretty else { return }
        out.append(0x0a)
        out.append(contentsOf: repeatElement(0x20, count: 2 * depth))
    }

    mutating func write(_ value: JSONValue, depth: Int) throws(ASTError) {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let v):
            guard let text = JSONValue.formatNumber(v) else {
                throw ASTError.invalid(
                    "JSON: \(v) at $\(path.joined()) cannot be written (JSON has no NaN or infinity)")
            }
            out.append(contentsOf: text.utf8)
        case .string(let s): writeString(s)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (i, element) in elements.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                newline(depth + 1)
                path.append("[\(i)]")
                try write(element, depth: depth + 1)
                path.removeLast()
            }
            if !elements.isEmpty { newline(depth) }
            out.append(UInt8(ascii: "]"))
        case .object(let object):
            out.append(UInt8(ascii: "{"))
            let keys = sortedKeys ? object.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) } : object.keys
            for (i, key) in keys.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                newline(depth + 1)
                writeString(key)
                out.append(UInt8(ascii: ":"))
                if pretty { out.append(0x20) }
                path.append(".\(key)")
                try write(object[key] ?? .null, depth: depth + 1)
                path.removeLast()
            }
            if !keys.isEmpty { newline(depth) }
            out.append(UInt8(ascii: "}"))
        }
    }

    mutating func writeString(_ s: String) {
        out.append(UInt8(ascii: "\""))
        for c in s.utf8 {
            switch c {
            case 0x22: out.append(0x5c); out.append(0x22)
            case 0x5c: out.append(0x5c); out.append(0x5c)
            case 0x0a: out.append(0x5c); out.append(UInt8(ascii: "n"))
            case 0x0d: out.append(0x5c); out.append(UInt8(ascii: "r"))
            case 0x09: out.append(0x5c); out.append(UInt8(ascii: "t"))
            case 0x08: out.append(0x5c); out.append(UInt8(ascii: "b"))
            case 0x0c: out.append(0x5c); out.append(UInt8(ascii: "f"))
            case 0..<0x20, 0x7f:
                out.append(contentsOf: "\\u00".utf8)
                out.append(hexDigits[Int(c >> 4)]); out.append(hexDigits[Int(c & 0xf)])
            default: out.append(c)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
