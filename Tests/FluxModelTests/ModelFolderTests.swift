import Foundation
import XCTest
@testable import FluxModel

final class ModelFolderTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("flux-folder-\(UUID())")
        try FileManager.default.copyItem(at: FluxFixtures.url("tiny-flux"), to: dir)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func assertFolderError(contains fragments: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try ModelFolder(url: dir), file: file, line: line) { error in
            let text = "\(error)"
            for f in fragments { XCTAssertTrue(text.contains(f), "'\(text)' does not mention '\(f)'", file: file, line: line) }
        }
    }

    func editJSON(_ relative: String, _ edit: (inout [String: Any]) -> Void) throws {
        let url = dir.appendingPathComponent(relative)
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        edit(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: url)
    }

    func testTinyFluxFolderIsValid() throws {
        let folder = try ModelFolder(url: dir)
        XCTAssertEqual(folder.pipelineClass, "FluxPipeline")
        XCTAssertEqual(folder.components["transformer"]?.className, "FluxTransformer2DModel")
        XCTAssertEqual(try FluxTransformerConfig.load(from: folder.transformerDirectory.appendingPathComponent("config.json")).numLayers, 2)
    }

    func testMissingFilesAreNamed() throws {
        try FileManager.default.removeItem(at: dir.appendingPathComponent("scheduler/scheduler_config.json"))
        assertFolderError(contains: ["scheduler_config.json"])
        try FileManager.default.removeItem(at: dir.appendingPathComponent("vae/diffusion_pytorch_model.safetensors"))
        assertFolderError(contains: ["vae", "safetensors"])
        try FileManager.default.removeItem(at: dir.appendingPathComponent("model_index.json"))
        assertFolderError(contains: ["model_index.json"])
    }

    func testMissingComponentFolder() throws {
        try FileManager.default.removeItem(at: dir.appendingPathComponent("text_encoder_2"))
        assertFolderError(contains: ["text_encoder_2"])
    }

    func testUnknownArchitectures() throws {
        try editJSON("model_index.json") { $0["_class_name"] = "StableDiffusion3Pipeline" }
        assertFolderError(contains: ["StableDiffusion3Pipeline", "FluxPipeline"])
        try editJSON("model_index.json") {
            $0["_class_name"] = "FluxPipeline"
            $0["transformer"] = ["diffusers", "SD3Transformer2DModel"]
        }
        assertFolderError(contains: ["transformer", "SD3Transformer2DModel"])
        try editJSON("model_index.json") { $0["transformer"] = ["diffusers", "FluxTransformer2DModel"] }
        try editJSON("transformer/config.json") { $0["_class_name"] = "SD3Transformer2DModel" }
        assertFolderError(contains: ["transformer/config.json", "SD3Transformer2DModel"])
    }

    func testModelResolution() throws {
        XCTAssertEqual(try ModelFolder.resolve(flag: "/x/y", environment: ["TERNFLUX_MODEL": "/z"]).path, "/x/y")
        XCTAssertEqual(try ModelFolder.resolve(flag: nil, environment: ["TERNFLUX_MODEL": "/z"]).path, "/z")
        let cwd = dir.appendingPathComponent("cwd")
        try FileManager.default.createDirectory(at: cwd, withIntermediateDirectories: true)
        XCTAssertThrowsError(try ModelFolder.resolve(flag: nil, environment: [:], currentDirectory: cwd)) { error in
            XCTAssertTrue("\(error)".contains("TERNFLUX_MODEL"))
        }
        try FileManager.default.createDirectory(at: cwd.appendingPathComponent("models"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: FluxFixtures.url("tiny-flux"), to: cwd.appendingPathComponent("models/default"))
        XCTAssertEqual(try ModelFolder.resolve(flag: nil, environment: [:], currentDirectory: cwd).lastPathComponent, "default")
    }
}
