import Foundation
import XCTest

/// `ternflux bench flux-step` at FLUX.1-dev width with one block of each kind: the report names the device,
/// and `--save-latents` writes each mode's latents (what the device check compares between CPU and GPU).
final class FluxStepCommandTests: XCTestCase {
    func testTheReportAndTheSavedLatents() throws {
        let latents = FileManager.default.temporaryDirectory.appendingPathComponent("flux-step-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: latents) }
        let p = Process()
        p.executableURL = BenchTestPaths.binary
        p.arguments = ["bench", "flux-step", "--mode", "both", "--double", "1", "--single", "1", "--width", "32", "--height", "32",
                       "--t5-length", "8", "--device", "cpu", "--json", "--save-latents", latents.path]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let log = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, log)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        let results = try XCTUnwrap(report["results"] as? [[String: Any]])
        XCTAssertEqual(results.map { $0["mode"] as? String }, ["f32", "int8"])
        XCTAssertEqual(results.map { $0["device"] as? String }, ["cpu", "cpu"])
        XCTAssertEqual(results.map { $0["device_weight_bytes"] as? Int }, [0, 0])

        // The file: a safetensors header naming both tensors, [1, 4, 64] each (32² pixels → 2×2 latent patches).
        let file = try Data(contentsOf: latents)
        let headerLength = Int(file.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let header = try XCTUnwrap(JSONSerialization.jsonObject(with: file.subdata(in: 8..<(8 + headerLength))) as? [String: Any])
        for name in ["latents_f32", "latents_int8"] {
            let entry = try XCTUnwrap(header[name] as? [String: Any], name)
            XCTAssertEqual(entry["shape"] as? [Int], [1, 4, 64])
            XCTAssertEqual(entry["dtype"] as? String, "F32")
        }
        XCTAssertEqual(file.count, 8 + headerLength + 2 * 4 * 64 * 4)
    }
}
