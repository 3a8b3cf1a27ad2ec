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
        XCTAssertEqual(problems(try json(["steps": 2.5]))?.1, [JobFieldProblem(field: "steps", message: "expected an integer, got 2.5")])
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

    func testValidateIsWhatSubmitUses() {
        var m = valid
        m.steps = 0
        m.width = 17
        XCTAssertEqual(m.validate().map(\.field), ["width", "steps"])
        XCTAssertEqual(valid.validate(), [])
    }
}
