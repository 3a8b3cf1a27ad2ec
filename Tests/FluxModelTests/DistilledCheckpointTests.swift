import Foundation
import XCTest
import TernaryTensors
@testable import FluxModel

/// The Swift side of `ternflux distill` on a committed export of the tool (Tests/Fixtures/distilled-tiny, made by
/// `ternflux distill` on tiny-flux; README there): packing keeps the learned per-row scales bit for bit, the
/// packed codes are the export's, and the pipeline generates with the result. No torch needed.
final class DistilledCheckpointTests: XCTestCase {
    let fixture = FluxFixtures.url("distilled-tiny")

    func testPackingKeepsLearnedScalesBitForBit() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("distilled-\(UUID())")
        defer { try? FileManager.default.removeItem(at: dir) }
        let report = try CheckpointQuantizer(format: .i2).run(source: fixture.appendingPathComponent("export-transformer"), destination: dir)
        XCTAssertEqual(report.quantized.count, 40)
        XCTAssertEqual(report.learnedScales.count, 40)
        // every scale tensor of the packed file is bit for bit the trained one
        let check = try LearnedScaleCheck.compare(checkpoint: dir, reference: fixture.appendingPathComponent("trained_scales.safetensors"))
        XCTAssertTrue(check.ok, "\(check.problems)")
        XCTAssertEqual(check.identical, 40)
        // and the codes are the export's weights divided by them; the learned scales are not absmean's
        let export = try SafeTensorsFile(url: fixture.appendingPathComponent("export-transformer/diffusion_pytorch_model.safetensors"))
        let packed = try SafeTensorsFile(url: dir.appendingPathComponent("diffusion_pytorch_model.safetensors"))
        var differsFromAbsmean = 0
        for name in report.quantized {
            let info = try export.info(name)
            let (n, k) = (info.shape[0], info.shape[1])
            let w = try export.floats(name)
            let scale = try packed.floats(TernaryCheckpointKeys.scaleName(forWeight: name))
            let codes = try TernaryPacking.unpack(try packed.bytes(name), outFeatures: n, inFeatures: k, format: .i2)
            for i in 0..<(n * k) { XCTAssertEqual(Float(codes[i]) * scale[i / k], w[i], name) }
            let absmean = try TernaryQuantizer.absmean(w, outFeatures: n, inFeatures: k)
            if absmean.scale != scale { differsFromAbsmean += 1 }
            XCTAssertEqual(absmean.values, codes, "\(name): absmean of scale·W_q gives W_q back")
        }
        XCTAssertGreaterThan(differsFromAbsmean, 0, "re-deriving the scales by absmean would have lost the trained ones")
    }

    func testGenerateRunsOnTheDistilledCheckpoint() throws {
        let fm = FileManager.default
        let dir = fm.temporaryDirectory.appendingPathComponent("distilled-pipeline-\(UUID())")
        defer { try? fm.removeItem(at: dir) }
        try fm.createDirectory(at: dir, withIntermediateDirectories: false)
        let tiny = FluxFixtures.url("tiny-flux")
        for name in try fm.contentsOfDirectory(atPath: tiny.path) where name != "transformer" {
            try fm.copyItem(at: tiny.appendingPathComponent(name), to: dir.appendingPathComponent(name))
        }
        _ = try CheckpointQuantizer(format: .i2).run(source: fixture.appendingPathComponent("export-transformer"),
                                                     destination: dir.appendingPathComponent("transformer"))
        let pipeline = try FluxPipeline(modelDirectory: dir)
        var request = FluxPipeline.Request(prompt: "a red circle and a red square", seed: 7, steps: 3, width: 64, height: 64,
                                           guidance: 3.5, maxSequenceLength: 32)
        request.trueCFGScale = 2
        request.negativePrompt = ""
        let result = try pipeline.generate(request)
        XCTAssertEqual(result.image.rgb.count, 64 * 64 * 3)
        XCTAssertTrue(result.finalLatents.storage.allSatisfy(\.isFinite))
        XCTAssertGreaterThan(Set(result.image.rgb).count, 8, "a flat image")
    }

    func testScaleThatIsNotTheRowsMagnitudeIsRefused() throws {
        XCTAssertThrowsError(try TernaryQuantizer.withScales([0.5, -0.5, 0.25, 0], scale: [0.5, 0.5], outFeatures: 2, inFeatures: 2)) { error in
            XCTAssertTrue("\(error)".contains("[1, 0]"), "\(error)")
        }
        let q = try TernaryQuantizer.withScales([0.5, -0.5, 0, 0.25], scale: [0.5, 0.25], outFeatures: 2, inFeatures: 2)
        XCTAssertEqual(q.values, [1, -1, 0, 1])
        XCTAssertEqual(q.scale, [0.5, 0.25])
    }
}
