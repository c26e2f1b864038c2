// JSONTests: the strict parser (accepts, rejects with offsets, caps), the serializer (compact,
// pretty, key order, number formatting) and round trips.

import ASTCore
@testable import ASTData
import Testing

@Suite struct JSONParseTests {
    @Test func parsesEveryKindOfValue() throws {
        let v = try JSONValue.parse(
            #" { "a" : [1, -2.5, 3e2, 0, -0.0, 1E-2], "b": {"c": null, "d": true, "e": false}, "s": "x" } "#)
        #expect(v["a"]?.array?.count == 6)
        #expect(v["a"]?[0]?.int == 1)
        #expect(v["a"]?[1]?.double == -2.5)
        #expect(v["a"]?[2]?.double == 300)
        #expect(v["a"]?[4]?.double?.sign == .minus)
        #expect(v["a"]?[5]?.double == 0.01)
        #expect(v["b"]?["c"]?.isNull == true)
        #expect(v["b"]?["d"]?.bool == true)
        #expect(v["b"]?["e"]?.bool == false)
        #expect(v["s"]?.string == "x")
        #expect(v["missing"] == nil)
        #expect(v["a"]?[6] == nil)
        #expect(v["a"]?[-1] == nil)
        #expect(v.object?.keys == ["a", "b", "s"])
    }

    @Test func scalarsAtTopLevel() throws {
        #expect(try JSONValue.parse("42") == .number(42))
        #expect(try JSONValue.parse("\"hi\"") == .string("hi"))
        #expect(try JSONValue.parse(" null\n") == .null)
        #expect(try JSONValue.parse("[]") == .array([]))
        #expect(try JSONValue.parse("{}") == .object(JSONObject()))
    }

    @Test func stringEscapesAndUnicode() throws {
        let v = try JSONValue.parse(#""a\"b\\c\/d\b\f\n\r\t\u0041\u00e9\u4e2d\ud83d\ude00 é😀""#)
        #expect(v.string == "a\"b\\c/d\u{08}\u{0C}\n\r\tAé中😀 é😀")
        // Upper-case hex digits and an escaped NUL.
        #expect(try JSONValue.parse(#""\u00C9\u0000""#).string == "É\u{0}")
    }

    @Test func intAccessorIsExact() throws {
        #expect(try JSONValue.parse("9007199254740991").int == 9_007_199_254_740_991)
        #expect(try JSONValue.parse("-9007199254740991").int == -9_007_199_254_740_991)
        #expect(try JSONValue.parse("9007199254740992").int == nil)  // ...993 parses to the same Double
        #expect(try JSONValue.parse("9007199254740993").int == nil)
        #expect(try JSONValue.parse("1.5").int == nil)
        #expect(try JSONValue.parse("-3").int == -3)
        #expect(try JSONValue.parse("2.0").int == 2)
        #expect(try JSONValue.parse("1e300").int == nil)
        #expect(JSONValue.string("1").int == nil)
    }

    static let rejects: [(String, String)] = [
        ("", "end of input"),
        ("   ", "end of input"),
        ("[1, 2,]", "trailing comma in array"),
        ("{\"a\": 1,}", "trailing comma in object"),
        ("[1 2]", "expected ',' or ']'"),
        ("{\"a\" 1}", "expected ':'"),
        ("{a: 1}", "expected a string key"),
        ("{'a': 1}", "expected a string key"),
        ("01", "leading zero"),
        ("-01", "leading zero"),
        ("00", "leading zero"),
        ("1.", "after the decimal point"),
        (".5", "where a value was expected"),
        ("+1", "where a value was expected"),
        ("1e", "exponent"),
        ("1e+", "exponent"),
        ("-", "expected a digit"),
        ("1e400", "out of range"),
        ("-1e400", "out of range"),
        ("NaN", "where a value was expected"),
        ("Infinity", "where a value was expected"),
        ("tru", "invalid literal"),
        ("nul", "invalid literal"),
        ("True", "where a value was expected"),
        ("\"abc", "unterminated string"),
        ("\"a\\x\"", "invalid escape sequence '\\x'"),
        ("\"a\\u12g4\"", "invalid hex digit"),
        ("\"a\\u12", "truncated \\u escape"),
        ("\"\\ud800\"", "lone high surrogate"),
        ("\"\\ud800\\u0041\"", "not a low surrogate"),
        ("\"\\udc00\"", "lone low surrogate"),
        ("\"\\ude00\\ud83d\"", "lone low surrogate"),
        ("\"a\tb\"", "unescaped control character 0x09"),
        ("\"a\nb\"", "unescaped control character 0x0a"),
        ("[1] [2]", "after the JSON value"),
        ("{} x", "after the JSON value"),
        ("{\"a\": 1, \"a\": 2}", "duplicate key \"a\""),
        ("[1, /* c */ 2]", "where a value was expected"),
        ("\u{FEFF}{}", "where a value was expected"),
        ("[", "end of input"),
        ("{\"a\":", "end of input")
    ]

    @Test(arguments: rejects)
    func rejectsMalformedText(_ text: String, _ fragment: String) {
        expectASTError(.format, fragment, "byte offset") { () throws(ASTError) in _ = try JSONValue.parse(text) }
    }

    @Test func errorNamesSourceAndOffset() {
        expectASTError(.format, "config.json", "trailing comma in array at byte offset 6") { () throws(ASTError) in
            _ = try JSONValue.parse("[1, 2,]", source: "config.json")
        }
        expectASTError(.format, "duplicate key \"k\" at byte offset 9") { () throws(ASTError) in
            _ = try JSONValue.parse(#"{"k": 1, "k": 2}"#)
        }
    }

    @Test func rejectsInvalidUTF8() throws {
        let cases: [[UInt8]] = [
            [0x22, 0xff, 0x22],  // never valid
            [0x22, 0xc0, 0xaf, 0x22],  // overlong '/'
            [0x22, 0xe0, 0x80, 0xaf, 0x22],  // overlong 3-byte
            [0x22, 0xed, 0xa0, 0x80, 0x22],  // encoded surrogate U+D800
            [0x22, 0xf4, 0x90, 0x80, 0x80, 0x22],  // beyond U+10FFFF
            [0x22, 0xe4, 0xb8, 0x22],  // truncated sequence
            [0x22, 0x80, 0x22],  // lone continuation byte
            [0x22, 0xf0, 0x9f, 0x98]  // truncated at end of input
        ]
        for bytes in cases {
            expectASTError(.format, "UTF-8") { () throws(ASTError) in _ = try JSONValue.parse(bytes) }
        }
        // The same positions with valid sequences parse.
        #expect(try JSONValue.parse([0x22, 0xf0, 0x9f, 0x98, 0x80, 0x22]).string == "😀")
        #expect(try JSONValue.parse([0x22, 0xed, 0x9f, 0xbf, 0x22]).string == "\u{D7FF}")
    }

    @Test func depthCap() throws {
        let ok = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        _ = try JSONValue.parse(ok)
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        expectASTError(.format, "nesting deeper than the limit of 64") { () throws(ASTError) in
            _ = try JSONValue.parse(deep)
        }
        // A depth bomb fails at the cap without recursing through it (and without closing brackets).
        let bomb = String(repeating: "{\"a\":[", count: 100_000)
        expectASTError(.format, "nesting deeper") { () throws(ASTError) in _ = try JSONValue.parse(bomb) }
        expectASTError(.format, "nesting deeper than the limit of 3") { () throws(ASTError) in
            _ = try JSONValue.parse("[[[[1]]]]", maxDepth: 3)
        }
        // The largest allowed depth parses on the test's thread; beyond it is refused up front.
        let n = JSONValue.maxAllowedDepth
        _ = try JSONValue.parse(
            String(repeating: "[{\"k\":", count: n / 2) + "1" + String(repeating: "}]", count: n / 2),
            maxDepth: n)
        expectASTError(.invalidArgument, "maxDepth must be in 0...256, got 257") { () throws(ASTError) in
            _ = try JSONValue.parse("1", maxDepth: 257)
        }
        #expect(try JSONValue.parse("7", maxDepth: 0) == 7)
        expectASTError(.format, "nesting deeper than the limit of 0") { () throws(ASTError) in
            _ = try JSONValue.parse("[]", maxDepth: 0)
        }
    }

    @Test func sizeCap() throws {
        _ = try JSONValue.parse("[1, 2, 3]", maxBytes: 9)
        expectASTError(.format, "10 bytes of JSON exceed the limit of 9") { () throws(ASTError) in
            _ = try JSONValue.parse("[1, 2, 33]", maxBytes: 9)
        }
    }

    @Test func longStringsAndArrays() throws {
        let big = String(repeating: "ab€", count: 50_000)
        let v = try JSONValue.parse(
            "[\"" + big + "\"," + Array(repeating: "1", count: 10_000).joined(separator: ",") + "]")
        #expect(v[0]?.string == big)
        #expect(v.array?.count == 10_001)
    }
}

@Suite struct JSONSerializeTests {
    @Test func numbersPrintShortestRoundTrip() throws {
        let cases: [(Double, String)] = [
            (0, "0"), (-0.0, "-0"), (1, "1"), (-42, "-42"), (0.1, "0.1"), (2.5, "2.5"),
            (1e20, "1e+20"), (9_007_199_254_740_991, "9007199254740991"), (1e-7, "1e-07"),
            (123_456.789, "123456.789"), (.leastNonzeroMagnitude, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308")
        ]
        for (value, text) in cases {
            #expect(JSONValue.formatNumber(value) == text)
            #expect(try JSONValue.number(value).serialized() == text)
            let back = try JSONValue.parse(text).double
            #expect(back == value)
            #expect(back?.sign == value.sign)
        }
        #expect(JSONValue.formatNumber(.nan) == nil)
        #expect(JSONValue.formatNumber(.infinity) == nil)
    }

    @Test func nonFiniteNumbersThrowWithPath() {
        let v: JSONValue = ["a": [1, 2, .number(.nan)]]
        expectASTError(.invalidArgument, "$.a[2]", "NaN") { () throws(ASTError) in _ = try v.serialized() }
        expectASTError(.invalidArgument, "$") { () throws(ASTError) in _ = try JSONValue.number(-.infinity).serialized()
        }
    }

    @Test func compactKeepsInsertionOrder() throws {
        var o = JSONObject()
        o["zeta"] = 1
        o["alpha"] = [true, false, .null]
        o["mid"] = ["x": "y"]
        let v = JSONValue.object(o)
        #expect(try v.serialized() == #"{"zeta":1,"alpha":[true,false,null],"mid":{"x":"y"}}"#)
        #expect(try v.serialized(sortedKeys: true) == #"{"alpha":[true,false,null],"mid":{"x":"y"},"zeta":1}"#)
        // Replacing keeps the position, removing drops it.
        o["zeta"] = "z"
        o["alpha"] = nil
        #expect(o.keys == ["zeta", "mid"])
        #expect(try JSONValue.object(o).serialized() == #"{"zeta":"z","mid":{"x":"y"}}"#)
    }

    @Test func prettyPrinting() throws {
        let v: JSONValue = ["name": "run", "sizes": [1, 2], "empty": [], "nested": ["e": [:]]]
        let expected = """
            {
              "name": "run",
              "sizes": [
                1,
                2
              ],
              "empty": [],
              "nested": {
                "e": {}
              }
            }
            """
        #expect(try v.serialized(pretty: true) == expected)
        #expect(try JSONValue.parse(expected) == v)
    }

    @Test func stringEscaping() throws {
        let s = "q\"b\\n\n\r\t\u{08}\u{0C}\u{01}\u{1F}\u{7F}é😀/"
        let text = try JSONValue.string(s).serialized()
        #expect(text == #""q\"b\\n\n\r\t\b\f\u0001\u001f\u007fé😀/""#)
        #expect(try JSONValue.parse(text).string == s)
    }

    @Test func roundTrips() throws {
        let texts = [
            #"{"a":[1,2.5,-3e-05,"x",null,true,false,{"b":[]}],"c":{},"d":"\u0000\u001f"}"#,
            #"[[[[]]],{"":""},-0,0.30000000000000004]"#,
            #""\ud83d\ude00 \u4e2d""#
        ]
        for text in texts {
            let v = try JSONValue.parse(text)
            let compact = try v.serialized()
            #expect(try JSONValue.parse(compact) == v)
            #expect(try JSONValue.parse(v.serialized(pretty: true)) == v)
            // Serializing is a fixed point after one pass.
            #expect(try JSONValue.parse(compact).serialized() == compact)
        }
        // Bytes and String entry points agree.
        #expect(try JSONValue.parse(Array(texts[0].utf8)) == JSONValue.parse(texts[0]))
        #expect(
            try JSONValue.parse(texts[0]).serializedBytes() == Array(try JSONValue.parse(texts[0]).serialized().utf8))
    }

    @Test func objectEqualityIgnoresKeyOrder() throws {
        #expect(try JSONValue.parse(#"{"a":1,"b":2}"#) == JSONValue.parse(#"{"b":2,"a":1}"#))
        #expect(try JSONValue.parse(#"{"a":1,"b":2}"#) != JSONValue.parse(#"{"a":1,"b":3}"#))
        #expect(try JSONValue.parse("[1,2]") != JSONValue.parse("[2,1]"))
    }

    @Test func literalsAndAccessors() {
        let v: JSONValue = ["n": 3, "f": 0.5, "s": "t", "b": true, "a": [1, "x"]]
        #expect(v["n"]?.int == 3)
        #expect(v["f"]?.double == 0.5)
        #expect(v["s"]?.string == "t")
        #expect(v["b"]?.bool == true)
        #expect(v["a"]?[1]?.string == "x")
        #expect(v["n"]?.string == nil)
        #expect(v["s"]?.double == nil)
        #expect(v.array == nil)
        #expect(v["a"]?.object == nil)
        #expect(v.kindName == "an object")
        #expect(v.object?.entries.map(\.key) == ["n", "f", "s", "b", "a"])
    }
}
