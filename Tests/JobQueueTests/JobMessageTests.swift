import Foundation
import JobModel
import XCTest
@testable import JobQueue

final class JobMessageTests: XCTestCase {
    let jobID = UUID(uuidString: "3f2504e0-4f89-11d3-9a0c-0305e82c3301")!
    let batchID = UUID(uuidString: "9b2c1d4e-0000-4000-8000-000000000001")!

    var valid: JobMessage {
        JobMessage(jobID: jobID, batchID: batchID, parameters: JobParameters(prompt: "a red fox", seed: 42, width: 128, height: 128,
                   steps: 8, guidance: 3.5, model: "default"), attempt: 0)
    }

    func fields(_ overrides: [String: Any?] = [:]) -> [String: Any] {
        var f: [String: Any] = ["v": 1, "job_id": jobID.uuidString.lowercased(), "batch_id": batchID.uuidString.lowercased(),
                                "prompt": "a red fox", "seed": 42, "width": 128, "height": 128, "steps": 8,
                                "guidance": 3.5, "model": "default", "attempt": 0]
        for (k, v) in overrides { f[k] = v }
        return f
    }

    func json(_ overrides: [String: Any?] = [:]) throws -> [UInt8] {
        Array(try JSONSerialization.data(withJSONObject: fields(overrides)))
    }

    func problems(_ value: [UInt8], key: [UInt8]? = nil, file: StaticString = #filePath, line: UInt = #line) -> (UUID, [JobFieldProblem])? {
        do {
            _ = try JobMessage.parse(value: value, key: key)
            XCTFail("expected the record to be rejected", file: file, line: line)
        } catch JobMessageError.invalid(let id, let problems) {
            return (id, problems)
        } catch {
            XCTFail("expected .invalid, got \(error)", file: file, line: line)
        }
        return nil
    }

    func unidentifiable(_ value: [UInt8], key: [UInt8]? = nil, file: StaticString = #filePath, line: UInt = #line) -> String? {
        do {
            _ = try JobMessage.parse(value: value, key: key)
            XCTFail("expected the record to be rejected", file: file, line: line)
        } catch JobMessageError.unidentifiable(let reason) {
            return reason
        } catch {
            XCTFail("expected .unidentifiable, got \(error)", file: file, line: line)
        }
        return nil
    }

    func testEncodedJSONRoundTripsThroughParserAndCodable() throws {
        var m = valid
        m.prompt = "quote \" backslash \\ newline \n tab \t bell \u{7} emoji 🦊 é"
        let bytes = m.encodedJSON()
        XCTAssertEqual(try JobMessage.parse(value: bytes, key: Array(m.key.utf8)), m)
        XCTAssertEqual(try JSONDecoder().decode(JobMessage.self, from: Data(bytes)), m)
        // The Codable encoding is the same document.
        let viaCodable = try JSONSerialization.jsonObject(with: JSONEncoder().encode(m)) as! NSDictionary
        let viaFast = try JSONSerialization.jsonObject(with: Data(bytes)) as! NSDictionary
        XCTAssertEqual(viaCodable, viaFast)
        XCTAssertEqual(m.key, "3f2504e0-4f89-11d3-9a0c-0305e82c3301")
    }

    func testContractExampleParses() throws {
        let line = #"{"v":1,"job_id":"3f2504e0-4f89-11d3-9a0c-0305e82c3301","batch_id":"9b2c1d4e-0000-4000-8000-000000000001","prompt":"a red fox","seed":42,"width":128,"height":128,"steps":8,"guidance":3.5,"model":"default","attempt":0}"#
        XCTAssertEqual(try JobMessage.parse(value: Array(line.utf8)), valid)
    }

    func testUnknownFieldsAreIgnoredAndAttemptDefaultsToZero() throws {
        var f = fields(["attempt": nil])
        f["priority"] = "high"
        f["extra"] = ["nested": [1, 2, 3]]
        let m = try JobMessage.parse(value: Array(try JSONSerialization.data(withJSONObject: f)))
        XCTAssertEqual(m, valid)
    }

    func testSQLInPromptIsKeptVerbatim() throws {
        let prompt = "x'); DROP TABLE jobs; -- \"; SELECT * FROM pg_shadow; /* \\ */"
        let m = try JobMessage.parse(value: try json(["prompt": prompt]))
        XCTAssertEqual(m.prompt, prompt)
        var again = m
        again.prompt = prompt
        XCTAssertEqual(try JobMessage.parse(value: again.encodedJSON()).prompt, prompt)
    }

    func testInvalidJSONWithoutJobIDIsUnidentifiable() {
        let reason = unidentifiable(Array("{not json".utf8))
        XCTAssertTrue(reason?.contains("not valid JSON") == true, reason ?? "")
        XCTAssertTrue(reason?.contains("no usable key") == true, reason ?? "")
        XCTAssertTrue(unidentifiable(Array("[1,2]".utf8))?.contains("an array, not a JSON object") == true)
        XCTAssertTrue(unidentifiable(Array("{not json".utf8), key: Array("junk".utf8))?.contains("'junk' is not a job id") == true)
    }

    func testInvalidJSONWithJobIDKeyFailsThatJob() {
        let (id, p) = problems(Array("{not json".utf8), key: Array(jobID.uuidString.lowercased().utf8)) ?? (UUID(), [])
        XCTAssertEqual(id, jobID)
        XCTAssertEqual(p.first?.field, "(record)")
        XCTAssertTrue(p.first?.message.contains("not valid JSON") == true)
    }

    func testMissingOrMalformedJobIDIsUnidentifiable() throws {
        XCTAssertTrue(unidentifiable(try json(["job_id": nil]))?.contains("job_id: is missing") == true)
        XCTAssertTrue(unidentifiable(try json(["job_id": "1234"]))?.contains("job_id: '1234' is not a UUID") == true)
        XCTAssertTrue(unidentifiable(try json(["job_id": 17]))?.contains("job_id: expected a string, got a number") == true)
    }

    func testMissingPromptFailsTheJob() throws {
        let (id, p) = problems(try json(["prompt": nil])) ?? (UUID(), [])
        XCTAssertEqual(id, jobID)
        XCTAssertEqual(p, [JobFieldProblem(field: "prompt", message: "is missing")])
        XCTAssertEqual("\(JobMessageError.invalid(jobID: id, problems: p))",
                       "job 3f2504e0-4f89-11d3-9a0c-0305e82c3301 is invalid: prompt: is missing")
    }

    func testStepsOutOfRange() throws {
        XCTAssertEqual(problems(try json(["steps": 0]))?.1, [JobFieldProblem(field: "steps", message: "must be between 1 and 100 (got 0)")])
        XCTAssertEqual(problems(try json(["steps": 10_000]))?.1, [JobFieldProblem(field: "steps", message: "must be between 1 and 100 (got 10000)")])
        XCTAssertEqual(problems(try json(["steps": 2.5]))?.1, [JobFieldProblem(field: "steps", message: "must be an integer, got 2.5")])
    }

    func testWidthMustBeMultipleOf16WithinLimits() throws {
        XCTAssertEqual(problems(try json(["width": 17]))?.1,
                       [JobFieldProblem(field: "width", message: "must be a multiple of 16 between 16 and 2048 (got 17)")])
        XCTAssertEqual(problems(try json(["height": 4096]))?.1.map(\.field), ["height"])
        XCTAssertEqual(problems(try json(["width": "128"]))?.1,
                       [JobFieldProblem(field: "width", message: "expected an integer, got a string")])
    }

    func testMillionCharacterPromptIsRejected() throws {
        let p = problems(try json(["prompt": String(repeating: "a", count: 1_000_000)]))?.1
        XCTAssertEqual(p, [JobFieldProblem(field: "prompt", message: "is 1000000 characters long; the limit is 4096")])
    }

    func testInvalidUTF8FailsTheJobWhenTheIDIsReadable() throws {
        var bytes = Array(#"{"v":1,"job_id":"3f2504e0-4f89-11d3-9a0c-0305e82c3301","batch_id":"9b2c1d4e-0000-4000-8000-000000000001","prompt":"bad "#.utf8)
        let offset = bytes.count
        bytes += [0xFF, 0xFE]
        bytes += Array(#"","seed":42,"width":128,"height":128,"steps":8,"guidance":3.5,"model":"default"}"#.utf8)
        let (id, p) = problems(bytes) ?? (UUID(), [])
        XCTAssertEqual(id, jobID)
        XCTAssertEqual(p, [JobFieldProblem(field: "(record)", message: "is not valid UTF-8 (first invalid byte at offset \(offset))")])
        // No readable id at all: dead-letter.
        XCTAssertNotNil(unidentifiable([0xC3, 0x28, 0xFF]))
    }

    func testGuidanceSeedModelVersionAndEveryProblemReported() throws {
        let p = problems(try json(["guidance": -1, "seed": -5, "model": "", "v": 3, "batch_id": "nope", "width": 17]))?.1 ?? []
        XCTAssertEqual(Set(p.map(\.field)), ["guidance", "seed", "model", "v", "batch_id", "width"])
        XCTAssertTrue(p.contains(JobFieldProblem(field: "v", message: "unsupported contract version 3 (this worker reads 1 to 2)")))
        XCTAssertTrue(p.contains(JobFieldProblem(field: "batch_id", message: "'nope' is not a UUID")))
    }

    func testKeyMismatchIsAProblem() throws {
        let other = UUID().uuidString.lowercased()
        let (id, p) = problems(try json(), key: Array(other.utf8)) ?? (UUID(), [])
        XCTAssertEqual(id, jobID)
        XCTAssertEqual(p.map(\.field), ["job_id"])
    }

    func testUnknownModelIsNotDecidedHere() throws {
        XCTAssertEqual(try JobMessage.parse(value: try json(["model": "no-such-model"])).model, "no-such-model")
    }

    func testNulInPromptIsRejected() throws {
        XCTAssertEqual(problems(try json(["prompt": "a\u{0}b"]))?.1,
                       [JobFieldProblem(field: "prompt", message: "contains a NUL character (U+0000)")])
    }

    /// The contract example's envelope with `body` (JSON members, written out) as the job's fields.
    func record(_ body: String) -> [UInt8] {
        Array((#"{"v":1,"job_id":"3f2504e0-4f89-11d3-9a0c-0305e82c3301","batch_id":"9b2c1d4e-0000-4000-8000-000000000001","model":"default","# + body + "}").utf8)
    }

    func testDuplicateKeysFailTheJob() throws {
        let (id, p) = problems(record(#""prompt":"a red fox","seed":1,"prompt":"a blue fox""#)) ?? (UUID(), [])
        XCTAssertEqual(id, jobID)
        XCTAssertEqual(p, [JobFieldProblem(field: "(record)", message: "'prompt' appears twice")])
        XCTAssertEqual("\(JobMessageError.invalid(jobID: id, problems: p))",
                       "job 3f2504e0-4f89-11d3-9a0c-0305e82c3301 is invalid: (record): 'prompt' appears twice")
        // Unknown fields are ignored, but not when they are given twice; every duplicate is reported.
        XCTAssertEqual(problems(record(#""prompt":"p","seed":1,"seed":1,"x":1,"x":2,"x":3"#))?.1,
                       [JobFieldProblem(field: "(record)", message: "'seed' appears twice"),
                        JobFieldProblem(field: "(record)", message: "'x' appears 3 times")])
        // A duplicate inside an unknown field's value is that field's business: ignored like the field.
        XCTAssertEqual(try JobMessage.parse(value: record(#""prompt":"p","seed":1,"extra":{"a":1,"a":2}"#)).prompt, "p")
        // A job id given twice is not trusted: the record key names the job, or the record is dead-lettered.
        let twice = Array(#"{"job_id":"3f2504e0-4f89-11d3-9a0c-0305e82c3301","job_id":"3f2504e0-4f89-11d3-9a0c-0305e82c3301","prompt":"p"}"#.utf8)
        XCTAssertEqual(unidentifiable(twice), "'job_id' appears twice; the record has no usable key")
        XCTAssertEqual(problems(twice, key: Array(jobID.uuidString.lowercased().utf8))?.1.first,
                       JobFieldProblem(field: "(record)", message: "'job_id' appears twice"))
    }

    func testNumbersAreReadExactlyWithTheirRange() throws {
        func problem(_ body: String, line: UInt = #line) -> String? {
            problems(record(body), line: line)?.1.map(\.description).joined(separator: "; ")
        }
        XCTAssertEqual(problem(#""prompt":"p","seed":9223372036854775808"#),
                       "seed: must be an integer within 0...9223372036854775807, got 9223372036854775808")
        XCTAssertEqual(problem(#""prompt":"p","seed":1e400"#), "seed: must be an integer within 0...9223372036854775807, got 1e400")
        XCTAssertEqual(problem(#""prompt":"p","seed":1.5"#), "seed: must be an integer, got 1.5")
        XCTAssertEqual(problem(#""prompt":"p","seed":-1"#), "seed: must be between 0 and 9223372036854775807 (got -1)")
        XCTAssertEqual(problem(#""prompt":"p","seed":1,"guidance":1e400"#), "guidance: must be a finite number within 0...30, got 1e400")
        XCTAssertEqual(problem(#""prompt":"p","seed":1,"width":1e30"#), "width: must be an integer within 16...2048, got 1e30")
        XCTAssertEqual(problem(#""prompt":"p","seed":1,"attempt":99999999999999999999"#),
                       "attempt: must be an integer within 0...1000, got 99999999999999999999")
        XCTAssertEqual(problem(#""prompt":"p","seed":1,"guidance":"3.5""#), "guidance: expected a number, got a string")
        // Exact at the edge, and integral values written with a fraction or an exponent are the integers they are.
        XCTAssertEqual(try JobMessage.parse(value: record(#""prompt":"p","seed":9223372036854775807"#)).seed, Int64.max)
        let m = try JobMessage.parse(value: record(#""prompt":"p","seed":1e3,"steps":8.0,"width":1.28e2,"guidance":0.35e1"#))
        XCTAssertEqual([m.seed, m.steps.map(Int64.init), m.width.map(Int64.init)], [1000, 8, 128])
        XCTAssertEqual(m.guidance, 3.5)
    }

    func testRawControlCharacterIsInvalidJSONNotAMissingField() {
        let body = "\"prompt\":\"a red\u{0} fox\",\"seed\":1"
        let value = record(body)
        let column = value.firstIndex(of: 0)! + 1
        XCTAssertEqual(problems(value, key: Array(jobID.uuidString.lowercased().utf8))?.1, [JobFieldProblem(
            field: "(record)",
            message: "the value is not valid JSON: a raw control character U+0000 inside a string at column \(column) (escape it as \\u0000)")])
        XCTAssertEqual(unidentifiable(value),
                       "the value is not valid JSON: a raw control character U+0000 inside a string at column \(column) (escape it as \\u0000); the record has no usable key")
    }

    func testValidateIsWhatSubmitUses() {
        var m = valid
        m.steps = 0
        m.width = 17
        XCTAssertEqual(m.validate().map(\.field), ["width", "steps"])
        XCTAssertEqual(valid.validate(), [])
    }
}
