import Foundation
import XCTest
@testable import TernaryTensors

final class SafeTensorsBadFileTests: XCTestCase {
    private let file = "/virtual/crafted.safetensors"

    private func expectError(_ bytes: [UInt8], _ expected: SafeTensorsError, mentions: [String] = [],
                             line: UInt = #line) {
        XCTAssertThrowsError(try parseSafeTensors(bytes), line: line) { error in
            XCTAssertEqual(error as? SafeTensorsError, expected, line: line)
            let text = "\(error)"
            for word in [file] + mentions { XCTAssertTrue(text.contains(word), "'\(text)' should mention \(word)", line: line) }
        }
    }

    private func entry(_ name: String, _ dtype: String, _ shape: [Int], _ begin: Int, _ end: Int) -> String {
        "\"\(name)\":{\"dtype\":\"\(dtype)\",\"shape\":[\(shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(begin),\(end)]}"
    }

    func testTruncatedFiles() {
        expectError([], .truncated(file: file, detail: "0 bytes, shorter than the 8-byte header length field"))
        expectError([1, 0, 0], .truncated(file: file, detail: "3 bytes, shorter than the 8-byte header length field"))
        let full = craftSafeTensors(header: "{\(entry("w", "F32", [4], 0, 16))}", data: [UInt8](repeating: 0, count: 16))
        // Cut inside the header.
        XCTAssertThrowsError(try parseSafeTensors(Array(full.prefix(20)))) { error in
            guard case .truncated = error as? SafeTensorsError else { return XCTFail("\(error)") }
        }
        // Cut inside the data: the error names the tensor whose bytes are missing.
        XCTAssertThrowsError(try parseSafeTensors(Array(full.dropLast(1)))) { error in
            guard case let .truncated(f, detail) = error as? SafeTensorsError else { return XCTFail("\(error)") }
            XCTAssertEqual(f, file)
            XCTAssertTrue(detail.contains("'w'"), detail)
        }
        // Every prefix of a valid file fails cleanly (never traps), the whole file parses.
        for n in 0..<full.count { XCTAssertThrowsError(try parseSafeTensors(Array(full.prefix(n)))) }
        XCTAssertNoThrow(try parseSafeTensors(full))
    }

    func testHeaderOver100MB() {
        var bytes: [UInt8] = []
        var n: UInt64 = 100_000_001
        for _ in 0..<8 { bytes.append(UInt8(n & 0xff)); n >>= 8 }
        expectError(bytes + Array("{}".utf8), .headerTooLarge(file: file, bytes: 100_000_001, limit: 100_000_000))
        expectError([UInt8](repeating: 0xff, count: 8), .headerTooLarge(file: file, bytes: UInt64.max, limit: 100_000_000))
    }

    func testHeaderNotJSON() {
        for header in ["not json", "{\"a\":", "{\"a\":{}} trailing", "[1,2]", "\"text\"", "{\"a\":1e}", "{'a':1}", "\u{0}"] {
            XCTAssertThrowsError(try parseSafeTensors(craftSafeTensors(header: header)), header) { error in
                guard case .invalidHeader(let f, _) = error as? SafeTensorsError else { return XCTFail("\(header): \(error)") }
                XCTAssertEqual(f, file)
            }
        }
        // Deep nesting is refused, not a stack overflow.
        let deep = "{\"a\":" + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "}"
        XCTAssertThrowsError(try parseSafeTensors(craftSafeTensors(header: deep)))
        // Invalid UTF-8 inside a string.
        var bad = craftSafeTensors(header: "{\"__metadata__\":{\"k\":\"xx\"}}")
        bad[bad.count - 5] = 0xff
        XCTAssertThrowsError(try parseSafeTensors(bad))
    }

    func testMalformedEntriesAndMetadata() {
        let cases: [(String, String)] = [
            ("{\"w\":[1]}", "w"),
            ("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", "w"),
            ("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", "w"),
            ("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", "w"),
            ("{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", "w"),
            ("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", "w"),
            ("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", "w"),
            ("{\"w\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,4]}}", "w"),
            ("{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,4]}}", "w"),
        ]
        for (header, tensor) in cases {
            XCTAssertThrowsError(try parseSafeTensors(craftSafeTensors(header: header, data: [0, 0, 0, 0])), header) { error in
                guard case let .invalidTensor(f, t, _) = error as? SafeTensorsError else { return XCTFail("\(header): \(error)") }
                XCTAssertEqual(f, file)
                XCTAssertEqual(t, tensor)
            }
        }
        for header in ["{\"__metadata__\":{\"k\":1}}", "{\"__metadata__\":[\"x\"]}"] {
            XCTAssertThrowsError(try parseSafeTensors(craftSafeTensors(header: header))) { error in
                guard case .invalidHeader = error as? SafeTensorsError else { return XCTFail("\(header): \(error)") }
            }
        }
    }

    func testOffsetsOutOfRangeOverlappingOrWrongSize() {
        let data = [UInt8](repeating: 0, count: 16)
        XCTAssertThrowsError(try parseSafeTensors(craftSafeTensors(header: "{\(entry("w", "F32", [5], 0, 20))}", data: data))) { error in
            guard case let .truncated(f, detail) = error as? SafeTensorsError else { return XCTFail("\(error)") }
            XCTAssertEqual(f, file)
            XCTAssertTrue(detail.contains("'w'"))
        }
        expectError(craftSafeTensors(header: "{\(entry("a", "F32", [2], 0, 8)),\(entry("b", "F32", [2], 4, 12))}", data: data),
                    .overlappingTensors(file: file, first: "a", second: "b"), mentions: ["'a'", "'b'"])
        expectError(craftSafeTensors(header: "{\(entry("a", "F32", [2], 8, 16)),\(entry("b", "F16", [4], 0, 10))}", data: data),
                    .invalidTensor(file: file, tensor: "b", detail: "data_offsets [0, 10] hold 10 bytes but shape [4] of F16 needs 8"))
        // Zero-sized tensors may sit anywhere.
        XCTAssertNoThrow(try parseSafeTensors(craftSafeTensors(header: "{\(entry("a", "F32", [4], 0, 16)),\(entry("z", "F32", [0], 4, 4))}", data: data)))
    }

    func testUnknownAndUnsupportedDTypes() {
        for dtype in ["F64", "BOOL", "XYZ", "f32", ""] {
            expectError(craftSafeTensors(header: "{\(entry("w", dtype, [1], 0, 8))}", data: [UInt8](repeating: 0, count: 8)),
                        .unsupportedDType(file: file, tensor: "w", dtype: dtype), mentions: ["'w'", "BF16"])
        }
    }

    func testDuplicateTensorNames() {
        let header = "{\(entry("w", "U8", [1], 0, 1)),\(entry("v", "U8", [1], 1, 2)),\(entry("w", "U8", [1], 2, 3))}"
        expectError(craftSafeTensors(header: header, data: [1, 2, 3]), .duplicateTensor(file: file, tensor: "w"), mentions: ["'w'"])
        // A repeated field inside one entry is a malformed header, not a duplicate tensor.
        let inner = "{\"w\":{\"dtype\":\"U8\",\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}"
        XCTAssertThrowsError(try parseSafeTensors(craftSafeTensors(header: inner, data: [1]))) { error in
            guard case .invalidHeader = error as? SafeTensorsError else { return XCTFail("\(error)") }
        }
    }

    func testMissingFileAndDirectory() throws {
        let dir = try makeTemporaryDirectory(self)
        XCTAssertThrowsError(try SafeTensorsFile(url: dir.appendingPathComponent("absent.safetensors"))) { error in
            guard case .cannotOpen = error as? SafeTensorsError else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try SafeTensorsFile(url: dir)) { error in
            guard case .cannotOpen = error as? SafeTensorsError else { return XCTFail("\(error)") }
        }
        let empty = dir.appendingPathComponent("empty.safetensors")
        XCTAssertTrue(FileManager.default.createFile(atPath: empty.path, contents: Data()))
        XCTAssertThrowsError(try SafeTensorsFile(url: empty)) { error in
            guard case .truncated = error as? SafeTensorsError else { return XCTFail("\(error)") }
        }
    }

    /// Random corruption of a valid file: every outcome is a parse or a thrown error, never a trap.
    func testRandomCorruptionNeverTraps() throws {
        let header = "{\"__metadata__\":{\"format\":\"pt\"},\(entry("a", "F32", [2, 2], 0, 16)),\(entry("b", "BF16", [3], 16, 22)),\(entry("c", "I64", [1], 24, 32))}"
        let valid = craftSafeTensors(header: header, data: [UInt8](repeating: 0x3f, count: 32))
        XCTAssertNoThrow(try parseSafeTensors(valid))
        var rng = SplitMix64(seed: 1234)
        var failures = 0
        for _ in 0..<3000 {
            var bytes = valid
            for _ in 0...rng.below(4) {
                let i = rng.below(bytes.count)
                switch rng.below(3) {
                case 0: bytes[i] = UInt8(truncatingIfNeeded: rng.next())
                case 1: bytes.remove(at: i)
                default: bytes.insert(UInt8(truncatingIfNeeded: rng.next()), at: i)
                }
            }
            do {
                let f = try parseSafeTensors(bytes)
                for name in f.tensorNames {
                    _ = try f.bytes(name)
                    if try f.info(name).dtype.isFloatingPoint { _ = try f.floats(name) }
                }
            } catch {
                failures += 1
            }
        }
        XCTAssertGreaterThan(failures, 100)
    }

    /// Structure-aware fuzzing: headers assembled from random (often hostile) field values.
    func testRandomHeadersNeverTrap() throws {
        var rng = SplitMix64(seed: 77)
        let dtypes = ["F32", "F16", "BF16", "I8", "U8", "I32", "I64", "F64", "BOOL", "", "f32", "\\u0046\\u0033\\u0032"]
        let numbers = ["0", "1", "2", "3", "4", "7", "8", "16", "-1", "1.0", "1e3", "9223372036854775807", "9223372036854775808",
                       "18446744073709551616", "4611686018427387904", "\"4\"", "null", "[]", "{}", "true"]
        func number() -> String { numbers[rng.below(numbers.count)] }
        var parsed = 0
        for _ in 0..<3000 {
            var fields: [String] = []
            for t in 0..<rng.below(4) {
                var parts: [String] = []
                if rng.below(8) != 0 { parts.append("\"dtype\":\"\(dtypes[rng.below(dtypes.count)])\"") }
                if rng.below(8) != 0 { parts.append("\"shape\":[\((0..<rng.below(4)).map { _ in number() }.joined(separator: ","))]") }
                if rng.below(8) != 0 { parts.append("\"data_offsets\":[\((0..<(1 + rng.below(3))).map { _ in number() }.joined(separator: ","))]") }
                fields.append("\"t\(rng.below(3) == 0 ? 0 : t)\":{\(parts.joined(separator: ","))}")
            }
            if rng.below(3) == 0 { fields.insert("\"__metadata__\":{\"k\":\(rng.below(2) == 0 ? "\"v\"" : number())}", at: 0) }
            let header = "{" + fields.joined(separator: ",") + "}" + String(repeating: " ", count: rng.below(8))
            let data = [UInt8](repeating: 0x41, count: rng.below(40))
            guard let file = try? parseSafeTensors(craftSafeTensors(header: header, data: data)) else { continue }
            parsed += 1
            for name in file.tensorNames {
                let range = try file.fileRange(name)
                XCTAssertLessThanOrEqual(range.upperBound, file.region.count)
                XCTAssertEqual(range.count, try file.info(name).byteCount)
                if try file.info(name).dtype.isFloatingPoint { _ = try file.floats(name) } else { _ = try file.integers(name) }
            }
        }
        XCTAssertGreaterThan(parsed, 50)
    }
}
