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
        {"prompt": "a red circle", "seed": 7, "width": 128, "guidance": 3.5}

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
        XCTAssertEqual(errors.map(\.description), [
            "line 4: prompt: is missing",
            "line 5: not valid JSON: unexpected 'not' where a value was expected at column 1",
            "line 6: prompt: expected a string, got a number",
            "line 7: width: expected an integer, got a string; seed: must be an integer, got 1.5",
        ])
    }

    func testJSONLDuplicateKeysAreRefusedWithTheLineNumber() {
        let text = """
        {"prompt": "fine"}
        {"prompt": "fine too", "seed": 2}
        {"prompt": "p", "seed": 1, "seed": 2}
        {"prompt": "p", "prompt": "q", "prompt": "r"}
        """
        let (lines, errors) = parse(text, .jsonl)
        XCTAssertEqual(lines.map(\.lineNumber), [1, 2])
        XCTAssertEqual(errors.map(\.description), ["line 3: 'seed' appears twice", "line 4: 'prompt' appears 3 times"])
        // Allowing unknown fields does not allow duplicates.
        let allowed = BatchFileParser.parse(Data(text.utf8), format: .jsonl, allowUnknownFields: true)
        XCTAssertEqual(allowed.errors.map(\.description), ["line 3: 'seed' appears twice", "line 4: 'prompt' appears 3 times"])
    }

    func testJSONLUnknownFieldsAreRefusedUnlessAllowed() {
        let text = """
        {"prompt": "a red circle", "width": 128}
        {"prompt": "a red circle", "widht": 128}
        {"prompt": "x", "negative": "blurry", "extra": {"a": [1]}, "negative": "dup"}
        """
        let (lines, errors) = parse(text, .jsonl)
        XCTAssertEqual(lines.map(\.lineNumber), [1])
        XCTAssertEqual(errors.map(\.description), [
            "line 2: unknown field 'widht' (known: prompt, seed, width, height, steps, guidance, model, negative_prompt, true_cfg_scale, images)",
            "line 3: 'negative' appears twice; unknown fields 'negative', 'extra' (known: prompt, seed, width, height, steps, guidance, model, negative_prompt, true_cfg_scale, images)",
        ])
        let allowed = BatchFileParser.parse(Data(text.utf8), format: .jsonl, allowUnknownFields: true)
        XCTAssertEqual(allowed.lines, [
            BatchLine(lineNumber: 1, prompt: "a red circle", width: 128),
            BatchLine(lineNumber: 2, prompt: "a red circle"),
        ])
        XCTAssertEqual(allowed.errors.map(\.description), ["line 3: 'negative' appears twice"])
    }

    func testJSONLNumbersAreExactAndNamedWithTheirRange() {
        let text = """
        {"prompt": "p", "seed": 9223372036854775807, "steps": 4.0, "width": 1.28e2, "guidance": 0}
        {"prompt": "p", "seed": 9223372036854775808}
        {"prompt": "p", "seed": 1.5}
        {"prompt": "p", "guidance": 1e400}
        {"prompt": "p", "height": -1e30, "steps": 1e-3}
        {"prompt": "p", "seed": "42"}
        """
        let (lines, errors) = parse(text, .jsonl)
        XCTAssertEqual(lines, [BatchLine(lineNumber: 1, prompt: "p", seed: Int64.max, width: 128, steps: 4, guidance: 0)])
        XCTAssertEqual(errors.map(\.description), [
            "line 2: seed: must be an integer within 0...9223372036854775807, got 9223372036854775808",
            "line 3: seed: must be an integer, got 1.5",
            "line 4: guidance: must be a finite number within 0...30, got 1e400",
            "line 5: height: must be an integer within 16...2048, got -1e30; steps: must be an integer, got 1e-3",
            "line 6: seed: expected an integer, got a string",
        ])
    }

    func testJSONLInvalidJSONIsOneErrorWithItsColumn() {
        let (lines, errors) = parse("{\"prompt\": \"a\u{0}b\"}\n{\"prompt\": \"ok\",}\n\u{FEFF}{\"prompt\": \"bom only first\"}", .jsonl)
        XCTAssertEqual(lines, [])
        XCTAssertEqual(errors.map(\.description), [
            "line 1: not valid JSON: a raw control character U+0000 inside a string at column 14 (escape it as \\u0000)",
            "line 2: not valid JSON: a trailing comma before '}' at column 17",
            "line 3: not valid JSON: unexpected byte 0xEF where a value was expected at column 1",
        ])
        // A byte order mark at the start of the file is skipped.
        XCTAssertEqual(parse("\u{FEFF}{\"prompt\": \"p\"}\n", .jsonl).0, [BatchLine(lineNumber: 1, prompt: "p")])
        XCTAssertEqual(parse("[1]\n", .jsonl).1.map(\.description), ["line 1: expected a JSON object, got an array"])
    }

    func testCSVUnknownAndRepeatedColumns() {
        let (lines, errors) = parse("prompt,widht,seed\na,64,1\nb,64,x\n", .csv)
        XCTAssertEqual(lines, [BatchLine(lineNumber: 2, prompt: "a", seed: 1)])
        XCTAssertEqual(errors.map(\.description), [
            "line 1: unknown column 'widht' (known: prompt, seed, width, height, steps, guidance, model, negative_prompt, true_cfg_scale, images)",
            "line 3: seed: must be an integer, got 'x'",
        ])
        let allowed = BatchFileParser.parse(Data("prompt,widht,seed,\na,64,9223372036854775808,\n".utf8), format: .csv, allowUnknownFields: true)
        XCTAssertEqual(allowed.lines, [])
        XCTAssertEqual(allowed.errors.map(\.description),
                       ["line 2: seed: must be an integer within 0...9223372036854775807, got 9223372036854775808"])
        XCTAssertEqual(parse("prompt,seed,\na,1,\n", .csv).1.map(\.description), ["line 1: column 3 of the header has no name"])
        XCTAssertEqual(parse("prompt,Seed,seed\na,1,2\n", .csv).1.map(\.description), ["line 1: 'seed' appears twice"])
        XCTAssertEqual(BatchFileParser.parse(Data("prompt,seed,seed\na,1,2\n".utf8), format: .csv, allowUnknownFields: true).errors.map(\.description),
                       ["line 1: 'seed' appears twice"])
    }

    func testCSVWithQuotesCommasNewlinesAndBadRows() {
        let text = "prompt,seed,steps\r\n\"a red circle, and a square\",3,4\r\n\"two\nlines \"\"quoted\"\"\",,\nonly-one-field\nplain,x,2\n"
        let (lines, errors) = parse(text, .csv)
        XCTAssertEqual(lines, [
            BatchLine(lineNumber: 2, prompt: "a red circle, and a square", seed: 3, steps: 4),
            BatchLine(lineNumber: 3, prompt: "two\nlines \"quoted\""),
        ])
        XCTAssertEqual(errors.map(\.lineNumber), [5, 6])
        XCTAssertEqual(errors[1].message, "seed: must be an integer, got 'x'")
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
