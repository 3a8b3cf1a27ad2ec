import XCTest
import Foundation
import JobModel
@testable import JobClient

final class BatchFileParserTests: XCTestCase {
    func parse(_ text: String, _ format: BatchFileFormat) -> ([BatchLine], [BatchLineError]) {
        let r = BatchFileParser.parse(Data(text.utf8), format: format)
        return (r.lines, r.errors)
    }

    func testJSONLFieldsAndErrorsWithLineNumbers() {
        let text = """
        {"prompt": "a red circle", "seed": 7, "width": 128, "guidance": 3.5, "extra": [1]}

        {"prompt": "a blue square", "steps": 4.0, "model": "default"}
        {"seed": 1}
        not json
        {"prompt": 5}
        {"prompt": "x", "seed": 1.5, "width": "wide"}
        """
        let (lines, errors) = parse(text, .jsonl)
        XCTAssertEqual(lines, [
            BatchLine(lineNumber: 1, prompt: "a red circle", seed: 7, width: 128, guidance: 3.5),
            BatchLine(lineNumber: 3, prompt: "a blue square", steps: 4, model: "default"),
        ])
        XCTAssertEqual(errors.map(\.lineNumber), [4, 5, 6, 7])
        XCTAssertTrue(errors[0].message.contains("prompt"))
        XCTAssertTrue(errors[2].message.contains("'prompt' must be a string"))
        XCTAssertTrue(errors[3].message.contains("seed") && errors[3].message.contains("width"), errors[3].message)
    }

    func testCSVWithQuotesCommasNewlinesAndBadRows() {
        let text = "prompt,seed,steps\r\n\"a red circle, and a square\",3,4\r\n\"two\nlines \"\"quoted\"\"\",,\nonly-one-field\nplain,x,2\n"
        let (lines, errors) = parse(text, .csv)
        XCTAssertEqual(lines, [
            BatchLine(lineNumber: 2, prompt: "a red circle, and a square", seed: 3, steps: 4),
            BatchLine(lineNumber: 3, prompt: "two\nlines \"quoted\""),
        ])
        XCTAssertEqual(errors.map(\.lineNumber), [5, 6])
        XCTAssertTrue(errors[1].message.contains("'seed' must be an integer"))
    }

    func testCSVWithoutPromptColumnIsRejected() {
        let (_, errors) = parse("text,seed\nhello,1\n", .csv)
        XCTAssertEqual(errors.count, 1)
        XCTAssertTrue(errors[0].description.contains("no 'prompt' column"))
    }

    func testPlainTextSkipsBlankLines() {
        let (lines, errors) = parse("a red circle\n\n  three green triangles  \r\n", .text)
        XCTAssertEqual(lines.map(\.prompt), ["a red circle", "three green triangles"])
        XCTAssertEqual(lines.map(\.lineNumber), [1, 3])
        XCTAssertEqual(errors, [])
    }

    func testInvalidUTF8NamesTheLine() {
        var data = Data("ok\nfine\n".utf8)
        data.append(contentsOf: [0x66, 0xFF, 0x0A])
        let r = BatchFileParser.parse(data, format: .text)
        XCTAssertEqual(r.errors, [BatchLineError(lineNumber: 3, message: "not valid UTF-8")])
    }

    func testFormatDetection() {
        XCTAssertEqual(BatchFileFormat.fromFileName("p.jsonl"), .jsonl)
        XCTAssertEqual(BatchFileFormat.fromFileName("p.CSV"), .csv)
        XCTAssertNil(BatchFileFormat.fromFileName("prompts"))
        XCTAssertEqual(BatchFileFormat.sniff("\n  {\"prompt\": \"x\"}"), .jsonl)
        XCTAssertEqual(BatchFileFormat.sniff("a red circle"), .text)
    }
}

final class BatchPlannerTests: XCTestCase {
    func testDefaultsFillMissingFieldsAndSeedsAreDeterministic() throws {
        let batch = UUID()
        let defaults = JobSettings(width: 128, steps: 4)
        let lines = [BatchLine(lineNumber: 1, prompt: "a red circle"), BatchLine(lineNumber: 2, prompt: "x", seed: 9, width: 64)]
        let plan = try BatchPlanner.plan(lines: lines, defaults: defaults, batchID: batch).get()
        XCTAssertEqual(plan.jobs.map(\.steps), [4, 4])
        XCTAssertEqual(plan.jobs.map(\.width), [128, 64])
        XCTAssertEqual(plan.jobs[1].seed, 9)
        XCTAssertEqual(plan.jobs[0].seed, JobSettings.derivedSeed(batchID: batch, lineNumber: 1))
        let again = try BatchPlanner.plan(lines: lines, defaults: defaults, batchID: batch).get()
        XCTAssertEqual(again.jobs[0].seed, plan.jobs[0].seed)
        XCTAssertNotEqual(JobSettings.derivedSeed(batchID: batch, lineNumber: 2), plan.jobs[0].seed)
        XCTAssertLessThan(plan.jobs[0].seed!, 1 << 53)
        // What neither the line nor the batch sets is left to the worker's model; the model is `default`.
        XCTAssertEqual(plan.jobs.map(\.height), [nil, nil])
        XCTAssertEqual(plan.jobs.map(\.model), ["default", "default"])
    }

    func testEveryBadLineIsReportedWithItsNumber() {
        let lines = [
            BatchLine(lineNumber: 1, prompt: "fine"),
            BatchLine(lineNumber: 2, prompt: "x", steps: 0),
            BatchLine(lineNumber: 5, prompt: "x", width: 17),
            BatchLine(lineNumber: 7, prompt: String(repeating: "p", count: 1_000_000)),
            BatchLine(lineNumber: 9, prompt: "x", steps: 10_000),
        ]
        guard case .failure(let e) = BatchPlanner.plan(lines: lines) else {
            return XCTFail("bad lines were accepted")
        }
        XCTAssertEqual(e.errors.map(\.lineNumber), [2, 5, 7, 9])
        XCTAssertTrue(e.errors[0].message.contains("steps"))
        XCTAssertTrue(e.errors[1].message.contains("width"))
        XCTAssertTrue(e.errors[2].message.contains("prompt"))
        XCTAssertTrue(e.description.contains("nothing was submitted"))
    }
}
