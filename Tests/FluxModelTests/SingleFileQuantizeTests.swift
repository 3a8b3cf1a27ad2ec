import Foundation
import TernaryTensors
import XCTest

/// `ternflux quantize` given a single file gives the same ternary checkpoint, file for file and byte for byte,
/// as `convert` followed by `quantize` of the converted folder, and leaves no temporary folder behind.
final class SingleFileQuantizeTests: XCTestCase {
    private func assertSameAsConvertThenQuantize(_ name: String, format: String) throws {
        let scratch = try makeScratchFolder(self)
        let flags = try BFLFixtures.flags(name)
        let direct = scratch.appendingPathComponent("direct")
        let converted = scratch.appendingPathComponent("converted")
        let viaFolder = scratch.appendingPathComponent("via-folder")
        let a = try runTernflux(["quantize", BFLFixtures.source(name).path, direct.path, "--format", format] + flags)
        XCTAssertEqual(a.status, 0, a.stderr)
        let b = try runTernflux(["convert", BFLFixtures.source(name).path, converted.path] + flags)
        XCTAssertEqual(b.status, 0, b.stderr)
        let c = try runTernflux(["quantize", converted.path, viaFolder.path, "--format", format])
        XCTAssertEqual(c.status, 0, c.stderr)
        let directFiles = try treeContents(direct), viaFolderFiles = try treeContents(viaFolder)
        XCTAssertEqual(Set(directFiles.keys), Set(viaFolderFiles.keys), name)
        for (path, data) in directFiles { XCTAssertEqual(data, viaFolderFiles[path], "\(name): \(path)") }
        // The transformer really is ternary.
        let transformer = try SafeTensorsFile(url: direct.appendingPathComponent("transformer/diffusion_pytorch_model.safetensors"))
        XCTAssertEqual(transformer.metadata["ternflux.packing"], format)
        XCTAssertEqual(try transformer.info("single_transformer_blocks.0.attn.to_q.weight").dtype, .u8)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch.path).sorted(), ["converted", "direct", "via-folder"])
    }

    func testDevFileQuantizesLikeItsConvertedFolder() throws {
        try assertSameAsConvertThenQuantize("dev", format: "i2")
    }

    func testComfyBundleQuantizesLikeItsConvertedFolder() throws {
        try assertSameAsConvertThenQuantize("comfy-bundle", format: "t3")
    }

    func testBadSourcesLeaveNothing() throws {
        let scratch = try makeScratchFolder(self)
        let dst = scratch.appendingPathComponent("q")
        let noTransformer = try runTernflux(["quantize", BFLFixtures.source("ae").path, dst.path] + (try BFLFixtures.flags("ae")))
        XCTAssertNotEqual(noTransformer.status, 0)
        XCTAssertTrue(noTransformer.stderr.contains("no FLUX transformer"), noTransformer.stderr)
        let noFlag = try runTernflux(["quantize", BFLFixtures.source("dev").path, dst.path])
        XCTAssertNotEqual(noFlag.status, 0)
        XCTAssertTrue(noFlag.stderr.contains("--axes-dims-rope"), noFlag.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch.path), [])
        try FileManager.default.createDirectory(at: dst, withIntermediateDirectories: false)
        let exists = try runTernflux(["quantize", BFLFixtures.source("dev").path, dst.path] + (try BFLFixtures.flags("dev")))
        XCTAssertNotEqual(exists.status, 0)
        XCTAssertTrue(exists.stderr.contains("already exists"), exists.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch.path), ["q"])
    }
}
