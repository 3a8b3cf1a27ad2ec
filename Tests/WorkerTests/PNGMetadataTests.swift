import FluxModel
import Foundation
import JobModel
import JobStore
import Worker
import XCTest

/// Every PNG carries how it was made (`GenerationMetadata`), checked with an independent reader: Debian's
/// Pillow (`/usr/bin/python3`, package python3-pil, installed by ops/install-system-deps.sh) reads what we
/// write, and we read what Pillow writes (compressed iTXt and zTXt included).
final class PNGMetadataTests: XCTestCase {
    static let python = "/usr/bin/python3"

    /// Runs `script` with Debian's Python; returns its stdout.
    func python(_ script: String, _ arguments: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.python)
        p.arguments = ["-c", script] + arguments
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, "python failed (is python3-pil installed?): \(String(decoding: errors, as: UTF8.self))")
        return String(decoding: data, as: UTF8.self)
    }

    static let pillowText = """
        import json, sys
        from PIL import Image
        im = Image.open(sys.argv[1]); im.load()
        print(json.dumps({"text": im.text, "size": list(im.size), "mode": im.mode}))
        """

    func testAWorkersPNGCarriesItsParametersForPillowAndInspect() throws {
        let h = try PipelineHarness(partitions: 1)
        let prompt = "ein roter Kreis – 赤い円"  // not Latin-1: the chunk must be iTXt
        let plan = try h.submit([prompt, "a blue square"], steps: 4, width: 128, height: 128)
        _ = try h.runWorkerInProcess(id: "w-meta", generator: try FixedImageGenerator(), idleExit: 2)
        for (index, job) in plan.jobs.enumerated() {
            let row = try XCTUnwrap(try h.repository.job(job.jobID))
            XCTAssertEqual(row.state, .succeeded)
            let path = try XCTUnwrap(row.outputURI)
            let read = try JSONSerialization.jsonObject(with: Data(try python(Self.pillowText, [path]).utf8)) as! [String: Any]
            let text = try XCTUnwrap(read["text"] as? [String: String])
            let parameters = try XCTUnwrap(text["parameters"])
            let lines = parameters.split(separator: "\n").map(String.init)
            XCTAssertEqual(lines.first, index == 0 ? prompt : "a blue square")
            // The fixed generator's defaults: CFG 1.5 against the empty negative prompt (no Negative prompt line).
            XCTAssertEqual(lines.last, "Steps: 4, Sampler: Euler (flow match), CFG scale: 1.5, Distilled CFG Scale: 3.5, "
                           + "Seed: \(row.parameters.seed!), Size: 128x128, Model: default, Version: TernFlux \(WorkerVersion.current)")
            XCTAssertEqual(lines.count, 2, parameters)
            let document = try JSONSerialization.jsonObject(with: Data(try XCTUnwrap(text["ternflux"]).utf8)) as! [String: Any]
            XCTAssertEqual(document["job_id"] as? String, job.jobID.uuidString.lowercased())
            XCTAssertEqual(document["batch_id"] as? String, plan.batchID.uuidString.lowercased())
            XCTAssertEqual(document["prompt"] as? String, row.parameters.prompt)
            XCTAssertEqual((document["seed"] as? NSNumber)?.int64Value, row.parameters.seed)
            XCTAssertEqual(document["steps"] as? Int, 4)
            XCTAssertEqual(document["true_cfg_scale"] as? Double, 1.5)
            XCTAssertEqual(document["negative_prompt"] as? String, "")
            XCTAssertEqual(document["ternflux_version"] as? String, WorkerVersion.current)

            let inspect = try InspectRun(["inspect", path, "--json"])
            XCTAssertEqual(inspect.status, 0, inspect.stderr)
            let inspected = try JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as! [String: Any]
            XCTAssertEqual(inspected["parameters"] as? String, parameters)
            XCTAssertEqual((inspected["ternflux"] as? [String: Any])?["job_id"] as? String, job.jobID.uuidString.lowercased())
        }
    }

    /// What Pillow writes (tEXt, compressed iTXt, zTXt), our reader reads.
    func testOurReaderReadsWhatPillowWrites() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("pillow-\(UUID().uuidString.prefix(8)).png").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        _ = try python("""
            import sys
            from PIL import Image, PngImagePlugin
            info = PngImagePlugin.PngInfo()
            info.add_text("plain", "latin-1 text: café")
            info.add_itxt("unicode", "赤い円 " * 200, zip=True)
            info.add_text("squeezed", "z" * 5000, zip=True)
            Image.new("RGB", (16, 16), (255, 0, 0)).save(sys.argv[1], pnginfo=info)
            """, [path])
        let chunks = try PNGTextChunk.read(fromPNG: [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))
        XCTAssertEqual(chunks, [PNGTextChunk(keyword: "plain", text: "latin-1 text: café"),
                                PNGTextChunk(keyword: "unicode", text: String(repeating: "赤い円 ", count: 200)),
                                PNGTextChunk(keyword: "squeezed", text: String(repeating: "z", count: 5000))])
    }

    func testInspectNamesWhatIsWrong() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("inspect-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let plain = try PNGWriter.encodeRGB([UInt8](repeating: 9, count: 16 * 16 * 3), width: 16, height: 16)
        let withText = try PNGWriter.encodeRGB([UInt8](repeating: 9, count: 16 * 16 * 3), width: 16, height: 16,
                                               text: [PNGTextChunk(keyword: "ternflux", text: "{not json")])
        var corrupt = withText
        corrupt[40] ^= 0xFF
        let files: [(String, [UInt8], String)] = [
            ("plain.png", plain, "has no generation metadata"), ("truncated.png", Array(withText.prefix(60)), "past the end of the file"),
            ("corrupt.png", corrupt, "CRC mismatch"), ("text.png", Array("hello".utf8), "not a PNG file"),
            ("bad-json.png", withText, "not a TernFlux metadata document"),
        ]
        for (name, bytes, message) in files {
            try Data(bytes).write(to: dir.appendingPathComponent(name))
            let r = try InspectRun(["inspect", dir.appendingPathComponent(name).path])
            XCTAssertNotEqual(r.status, 0, name)
            XCTAssertTrue(r.stderr.contains(name) && r.stderr.contains(message), "\(name): \(r.stderr)")
        }
        let missing = try InspectRun(["inspect", dir.appendingPathComponent("none.png").path])
        XCTAssertTrue(missing.stderr.contains("no such file"), missing.stderr)
    }

    func testTextChunksRoundTripAndBadKeywordsAreRefused() throws {
        let chunks = [PNGTextChunk(keyword: "parameters", text: "a red circle\nSteps: 8"),
                      PNGTextChunk(keyword: "ternflux", text: #"{"prompt":"ünïcödé 🎨"}"#)]
        let png = try PNGWriter.encodeRGB([UInt8](repeating: 200, count: 32 * 16 * 3), width: 32, height: 16, text: chunks)
        XCTAssertEqual(try PNGTextChunk.read(fromPNG: png), chunks)
        for keyword in ["", " lead", "trail ", "two  spaces", String(repeating: "k", count: 80), "emoji🎨"] {
            XCTAssertThrowsError(try PNGWriter.encodeRGB([0, 0, 0], width: 1, height: 1, text: [PNGTextChunk(keyword: keyword, text: "x")]))
        }
    }
}

/// The built `ternflux` binary run once (stderr to a file, so neither pipe can block the other).
struct InspectRun {
    var status: Int32
    var stdout: String
    var stderr: String

    init(_ arguments: [String]) throws {
        let p = Process()
        p.executableURL = PipelineHarness.binary
        p.arguments = arguments
        let errFile = FileManager.default.temporaryDirectory.appendingPathComponent("inspect-err-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: errFile.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errFile) }
        let out = Pipe()
        p.standardOutput = out
        p.standardError = try FileHandle(forWritingTo: errFile)
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        status = p.terminationStatus
        stdout = String(decoding: data, as: UTF8.self)
        stderr = String(decoding: (try? Data(contentsOf: errFile)) ?? Data(), as: UTF8.self)
    }
}
