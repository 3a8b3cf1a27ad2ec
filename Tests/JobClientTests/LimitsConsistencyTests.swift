import JobQueue
import Foundation
import JobModel
import JobClient
import XCTest

/// Submit and the worker check a job with the same JobLimits (the store's constraints are checked against them
/// in JobStoreTests/StoredLimitsTests).
final class LimitsConsistencyTests: XCTestCase {
    /// At every limit's edges, `ternflux submit` (BatchPlanner) and the worker (the record parser) reach
    /// the same verdict with the same message, naming the field and the limit.
    func testSubmitAndWorkerAgreeAtEveryEdge() throws {
        let limits = JobLimits.standard
        let longest = String(repeating: "é", count: limits.maxPromptScalars)
        let cases: [(field: String, line: BatchLine, message: String?)] = [
            ("prompt", BatchLine(lineNumber: 1, prompt: longest), nil),
            ("prompt", BatchLine(lineNumber: 1, prompt: longest + "e"), "is 4097 characters long; the limit is 4096"),
            ("prompt", BatchLine(lineNumber: 1, prompt: " \t "), "must not be empty"),
            ("prompt", BatchLine(lineNumber: 1, prompt: "a\u{0}b"), "contains a NUL character (U+0000)"),
            ("width", BatchLine(lineNumber: 1, prompt: "p", width: 2048), nil),
            ("width", BatchLine(lineNumber: 1, prompt: "p", width: 2064), "must be a multiple of 16 between 16 and 2048 (got 2064)"),
            ("height", BatchLine(lineNumber: 1, prompt: "p", height: 16), nil),
            ("height", BatchLine(lineNumber: 1, prompt: "p", height: 0), "must be a multiple of 16 between 16 and 2048 (got 0)"),
            ("height", BatchLine(lineNumber: 1, prompt: "p", height: 24), "must be a multiple of 16 between 16 and 2048 (got 24)"),
            ("steps", BatchLine(lineNumber: 1, prompt: "p", steps: 100), nil),
            ("steps", BatchLine(lineNumber: 1, prompt: "p", steps: 101), "must be between 1 and 100 (got 101)"),
            ("steps", BatchLine(lineNumber: 1, prompt: "p", steps: 0), "must be between 1 and 100 (got 0)"),
            ("guidance", BatchLine(lineNumber: 1, prompt: "p", guidance: 30), nil),
            ("guidance", BatchLine(lineNumber: 1, prompt: "p", guidance: 30.5), "must be a number between 0.0 and 30.0 (got 30.5)"),
            ("seed", BatchLine(lineNumber: 1, prompt: "p", seed: -1), "must be between 0 and 9223372036854775807 (got -1)"),
            ("model", BatchLine(lineNumber: 1, prompt: "p", model: String(repeating: "m", count: 129)), "is longer than 128 characters"),
        ]
        for c in cases {
            let planned = BatchPlanner.plan(lines: [c.line])
            // The same parameters as a record on the topic.
            let job = JobMessage(jobID: UUID(), batchID: UUID(), parameters: JobParameters(
                                 prompt: c.line.prompt, seed: c.line.parameters.seed ?? 1,
                                 width: c.line.parameters.width ?? 128, height: c.line.parameters.height ?? 128,
                                 steps: c.line.parameters.steps ?? 8, guidance: c.line.parameters.guidance ?? 3.5,
                                 model: c.line.parameters.model ?? "default"))
            let record = Array(try JSONEncoder().encode(job))
            switch (planned, c.message) {
            case (.success, nil):
                XCTAssertNoThrow(try JobMessage.parse(value: record), "\(c.field) at its limit")
            case (.failure(let errors), let message?):
                XCTAssertEqual(errors.errors.map(\.message), ["\(c.field): \(message)"], c.field)
                XCTAssertThrowsError(try JobMessage.parse(value: record)) { error in
                    XCTAssertEqual((error as? JobMessageError)?.jobID, job.jobID)
                    if case .invalid(_, let problems)? = error as? JobMessageError {
                        XCTAssertEqual(problems, [JobFieldProblem(field: c.field, message: message)], c.field)
                    }
                }
            default:
                XCTFail("\(c.field): submit gave \(planned), expected \(c.message ?? "success")")
            }
        }
    }

    /// A number submit and the worker cannot take is refused by both with the same message, naming the range.
    func testSubmitAndWorkerReadNumbersAlike() throws {
        let cases: [(field: String, text: String, message: String)] = [
            ("seed", "9223372036854775808", "must be an integer within 0...9223372036854775807, got 9223372036854775808"),
            ("seed", "-9223372036854775809", "must be an integer within 0...9223372036854775807, got -9223372036854775809"),
            ("seed", "1.5", "must be an integer, got 1.5"),
            ("width", "1e19", "must be an integer within 16...2048, got 1e19"),
            ("steps", "2.5e0", "must be an integer, got 2.5e0"),
            ("guidance", "1e400", "must be a finite number within 0...30, got 1e400"),
            ("guidance", "-1e400", "must be a finite number within 0...30, got -1e400"),
        ]
        for c in cases {
            let line = #"{"prompt": "p", "\#(c.field)": \#(c.text)}"#
            XCTAssertEqual(BatchFileParser.parse(Data(line.utf8), format: .jsonl).errors.map(\.description),
                           ["line 1: \(c.field): \(c.message)"], c.text)
            var fields = #""v":1,"job_id":"3f2504e0-4f89-11d3-9a0c-0305e82c3301","batch_id":"9b2c1d4e-0000-4000-8000-000000000001","prompt":"p","model":"default""#
            if c.field != "seed" { fields += #","seed":1"# }
            let record = Array(("{" + fields + #",""# + c.field + #"":"# + c.text + "}").utf8)
            XCTAssertThrowsError(try JobMessage.parse(value: record)) { error in
                guard case .invalid(_, let problems)? = error as? JobMessageError else { return XCTFail("\(error)") }
                XCTAssertEqual(problems, [JobFieldProblem(field: c.field, message: c.message)], c.text)
            }
        }
    }

    func testNumberTextIsReadExactly() {
        let range: ClosedRange<Int64> = 0...Int64.max
        func int(_ text: String) -> String {
            switch JobLimits.readInteger(text, within: range) {
            case .success(let v): return "\(v)"
            case .failure(let p): return p.message
            }
        }
        XCTAssertEqual(int("0"), "0")
        XCTAssertEqual(int("-0"), "0")
        XCTAssertEqual(int("+7"), "7")
        XCTAssertEqual(int("007"), "7")
        XCTAssertEqual(int("9223372036854775807"), "9223372036854775807")
        XCTAssertEqual(int("-9223372036854775808"), "-9223372036854775808")
        XCTAssertEqual(int("922337203685477580.7e1"), "9223372036854775807")
        XCTAssertEqual(int("92233720368547758070e-1"), "9223372036854775807")
        XCTAssertEqual(int("1.000000000000000000000000000000"), "1")
        XCTAssertEqual(int("0e999999999999999999999"), "0")
        XCTAssertEqual(int("1e-999999999999999999999"), "must be an integer, got 1e-999999999999999999999")
        XCTAssertEqual(int("1e999999999999999999999"), "must be an integer within 0...9223372036854775807, got 1e999999999999999999999")
        XCTAssertEqual(int("18446744073709551616"), "must be an integer within 0...9223372036854775807, got 18446744073709551616")
        XCTAssertEqual(int(String(repeating: "9", count: 100)),
                       "must be an integer within 0...9223372036854775807, got \(String(repeating: "9", count: 40))…")
        for bad in ["", "-", "x", "1.", ".5", "1e", "0x10", "inf", "nan", " 1", "1 ", "1,5"] {
            XCTAssertEqual(int(bad), "must be an integer, got '\(bad)'", bad)
        }
        XCTAssertEqual(try JobLimits.readNumber("0.1", within: 0...30).get(), 0.1)
        XCTAssertEqual(try JobLimits.readNumber("+3", within: 0...30).get(), 3)
        XCTAssertEqual(try JobLimits.readNumber("1e-400", within: 0...30).get(), 0)
        XCTAssertEqual(JobLimits.readNumber("inf", within: 0...30).map { _ in "" }, .failure(NumberProblem("must be a number, got 'inf'")))
        XCTAssertEqual(JobLimits.readNumber("1e309", within: 0.5...7.25).map { _ in "" },
                       .failure(NumberProblem("must be a finite number within 0.5...7.25, got 1e309")))
    }
}
