import StrictJSON
import XCTest

final class StrictJSONParserTests: XCTestCase {
    private func failure(_ text: String, duplicateKeys: StrictJSONDuplicateKeys = .reject,
                         file: StaticString = #filePath, line: UInt = #line) -> StrictJSONError? {
        do {
            let value = try StrictJSONParser.parse(text, duplicateKeys: duplicateKeys)
            XCTFail("\(text.debugDescription) parsed as \(value)", file: file, line: line)
        } catch let e as StrictJSONError {
            return e
        } catch {
            XCTFail("threw \(error), not a StrictJSONError", file: file, line: line)
        }
        return nil
    }

    func testValuesKeepOrderAndNumberText() throws {
        let v = try StrictJSONParser.parse(#" {"b": [1, -0.5e+3, 1e400, 18446744073709551616], "a": {"x": null, "y": true}, "s": "\u00e9\ud83e\udd8a\/"} "#)
        XCTAssertEqual(v, .object([
            ("b", .array([.number("1"), .number("-0.5e+3"), .number("1e400"), .number("18446744073709551616")])),
            ("a", .object([("x", .null), ("y", .bool(true))])),
            ("s", .string("é🦊/")),
        ]))
        XCTAssertEqual(v.members?.map(\.key), ["b", "a", "s"])
        XCTAssertEqual(v.kindWithArticle, "an object")
        XCTAssertEqual(StrictJSONValue.array([]).kindWithArticle, "an array")
        XCTAssertEqual(StrictJSONValue.number("1").kindWithArticle, "a number")
        XCTAssertEqual(StrictJSONValue.null.kindWithArticle, "null")
    }

    func testRawControlCharacterIsNamedWithItsColumnAndEscape() {
        let e = failure("{\"prompt\": \"a red\u{0} fox\"}")
        XCTAssertEqual(e?.description, "a raw control character U+0000 inside a string at column 18 (escape it as \\u0000)")
        XCTAssertEqual(e?.offset, 17)
        XCTAssertEqual(failure("{\"p\": \"tab\there\"}")?.description,
                       "a raw control character U+0009 inside a string at column 11 (escape it as \\t)")
    }

    func testPositionsCountLinesAndUnicodeScalars() {
        // The column counts scalars, not bytes: "é" is two bytes, one column.
        let e = failure("{\n  \"é\": 1,\n  \"b\": x}")
        XCTAssertEqual(e?.line, 3)
        XCTAssertEqual(e?.column, 8)
        XCTAssertEqual(e?.description, "unexpected 'x' where a value was expected at line 3, column 8")
    }

    func testDuplicateKeysAreRejectedOrKept() {
        let e = failure(#"{"seed": 1, "prompt": "p", "seed": 2}"#)
        XCTAssertEqual(e?.kind, .duplicateKey("seed"))
        XCTAssertEqual(e?.description, "duplicate key \"seed\" at column 28")
        XCTAssertEqual(e?.depth, 1)
        XCTAssertEqual(failure(#"{"a": {"k": 1, "k": 2}}"#)?.depth, 2)

        let kept = try? StrictJSONParser.parse(#"{"seed": 1, "prompt": "p", "seed": 2, "seed": 3, "prompt": "q", "x": 0}"#,
                                               duplicateKeys: .keepAll)
        XCTAssertEqual(kept?.members?.count, 6)
        XCTAssertEqual(kept?.duplicateKeys.map(\.key), ["seed", "prompt"])
        XCTAssertEqual(kept?.duplicateKeys.map(\.count), [3, 2])
        XCTAssertEqual(StrictJSONValue.object([("a", .null)]).duplicateKeys.count, 0)
    }

    func testSyntaxErrorsSayWhatIsWrong() {
        let cases: [(String, String)] = [
            ("", "the input ends where a value was expected at column 1"),
            ("{not json", "expected a key in double quotes, found character 'n' at column 2"),
            ("{'a': 1}", "expected a key in double quotes, found character \"'\" at column 2 (JSON strings use double quotes)"),
            (#"{"a": 'x'}"#, "unexpected character \"'\" where a value was expected at column 7 (JSON strings use double quotes)"),
            (#"{"a" 1}"#, "expected ':' after the key \"a\", found character '1' at column 6"),
            (#"{"a": 1,}"#, "a trailing comma before '}' at column 9"),
            ("[1, 2,]", "a trailing comma before ']' at column 7"),
            (#"{"a": 1 "b": 2}"#, "expected ',' or '}' after the value of \"a\", found character '\"' at column 9"),
            (#"{"a": 1"#, "the input ends inside an object (a '}' is missing) at column 8"),
            (#"{"a": "open"#, "the input ends inside a string (a closing '\"' is missing) at column 7"),
            (#"{"a": 01}"#, "a number with a leading zero at column 8"),
            (#"{"a": 1.}"#, "a number with no digits after its '.' at column 9"),
            (#"{"a": 1e}"#, "a number with no digits in its exponent at column 9"),
            (#"{"a": -}"#, "a '-' not followed by a digit at column 8"),
            (#"{"a": tru}"#, "unexpected 'tru' where a value was expected at column 7"),
            (#"{"a": nullx}"#, "unexpected 'nullx' where a value was expected at column 7"),
            (#"{"a": NaN}"#, "unexpected 'NaN' where a value was expected at column 7"),
            (#"{"a": tr"#, "unexpected 'tr' where a value was expected at column 7"),
            (#"{"a": "\x"}"#, "an invalid escape \\x at column 8"),
            (#"{"a": "\u12g4"}"#, "a \\u escape needs four hex digits, found character 'g' at column 12"),
            (#"{"a": "\ud800"}"#, "an unpaired surrogate \\ud800 at column 8"),
            (#"{"a": 1} {"#, "unexpected character '{' after the JSON value at column 10"),
            ("{\"a\": \u{7F}}", "unexpected control character U+007F where a value was expected at column 7"),
        ]
        for (text, expected) in cases {
            XCTAssertEqual(failure(text)?.description, expected, text)
        }
        var bytes = Array(#"{"a": ""#.utf8)
        bytes += [0xFF, 0x22, 0x7D]
        XCTAssertThrowsError(try StrictJSONParser.parse(bytes)) { error in
            XCTAssertEqual("\(error)", "a string that is not valid UTF-8 at column 7")
        }
        XCTAssertThrowsError(try StrictJSONParser.parse([0xFF])) { error in
            XCTAssertEqual("\(error)", "unexpected byte 0xFF where a value was expected at column 1")
        }
    }

    func testDeepNestingIsRefused() {
        let e = failure(String(repeating: "[", count: 10_000))
        XCTAssertEqual(e?.kind, .tooDeep)
        XCTAssertEqual(e?.message, "JSON nested deeper than 64 levels")
    }

    func testEveryPrefixOfADocumentFailsCleanly() throws {
        let text = #"{"a": [1, 2.5e-3, "x\"\u00e9"], "b": {"c": null, "d": false}}"#
        XCTAssertNoThrow(try StrictJSONParser.parse(text))
        let bytes = Array(text.utf8)
        for n in 0..<bytes.count {
            XCTAssertThrowsError(try StrictJSONParser.parse(Array(bytes.prefix(n)))) { error in
                XCTAssertTrue(error is StrictJSONError)
            }
        }
    }

    func testQuotedStringsRoundTrip() throws {
        let s = "quote \" backslash \\ newline \n bell \u{7} nul \u{0} 🦊"
        XCTAssertEqual(try StrictJSONParser.parse(jsonQuoted(s)), .string(s))
    }
}
