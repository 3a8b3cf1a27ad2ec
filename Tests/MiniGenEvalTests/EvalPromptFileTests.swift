import Foundation
import XCTest
import FluxModel
@testable import MiniGenEval

final class EvalPromptFileTests: XCTestCase {
    func testPlainAndJSONLinesCommentsAndBlankLines() {
        let text = """
            # mini-GenEval prompts
            a red circle

            {"prompt": "three green triangles", "tag": "counting"}
            {"prompt": "a dog on a skateboard", "tag": "position"}
            a photo of a cat\r
            """
        let (lines, errors) = EvalPromptFile.parse(Data(text.utf8))
        XCTAssertEqual(errors, [])
        XCTAssertEqual(lines.map(\.lineNumber), [2, 4, 5, 6])
        XCTAssertEqual(lines.map(\.text), ["a red circle", "three green triangles", "a dog on a skateboard", "a photo of a cat"])
        XCTAssertEqual(lines.map(\.prompt.category), [.colors, .counting, .other, .other])
    }

    func testEveryMalformedLineIsReportedByNumber() {
        var data = Data("""
            a red circle
            {"prompt": 3}
            {"tag": "colors"}
            {not json
            {"prompt": "a red circle", "tag": "counting"}
            {"prompt": "a circle", "tag": "shapes"}
            a\tb
            {"prompt": "   "}
            a blue square

            """.utf8)
        data.append(contentsOf: [0x61, 0xFF, 0x0A])   // line 10: invalid UTF-8
        let (lines, errors) = EvalPromptFile.parse(data)
        XCTAssertEqual(lines.map(\.lineNumber), [1, 9])
        XCTAssertEqual(errors.map(\.lineNumber), [2, 3, 4, 5, 6, 7, 8, 10])
        let messages = errors.map(\.description)
        XCTAssertEqual(messages[0], "line 2: 'prompt' must be a string")
        XCTAssertEqual(messages[1], "line 3: JSON object has no 'prompt'")
        XCTAssertEqual(messages[2], "line 4: starts with '{' but is not a JSON object")
        XCTAssertEqual(messages[3], "line 5: tag 'counting' but the prompt 'a red circle' is a colors prompt")
        XCTAssertTrue(messages[4].hasPrefix("line 6: unknown tag 'shapes'"), messages[4])
        XCTAssertEqual(messages[5], "line 7: contains the control character U+0009")
        XCTAssertEqual(messages[6], "line 8: 'prompt' is empty")
        XCTAssertEqual(messages[7], "line 10: not valid UTF-8")
    }

    func testLoadThrowsWithThePathAndAllLines() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("eval-prompts-\(UUID().uuidString).txt")
        try Data("a circle\n{\"prompt\": 1}\n{\"x\": 2}\n".utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        XCTAssertThrowsError(try EvalPromptFile.load(url)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains(url.path) && text.contains("2 malformed lines"), text)
            XCTAssertTrue(text.contains("line 2:") && text.contains("line 3:"), text)
        }
        XCTAssertThrowsError(try EvalPromptFile.load(url.appendingPathExtension("missing"))) { error in
            XCTAssertTrue("\(error)".contains("cannot read"), "\(error)")
        }
    }

    func testFileWithoutPromptsIsAnError() {
        let (lines, errors) = EvalPromptFile.parse(Data("# only a comment\n\n".utf8))
        XCTAssertEqual(lines, [])
        XCTAssertEqual(errors.map(\.message), ["the file has no prompts"])
    }
}
