import Foundation
import XCTest
import TernaryTensors
@testable import FluxModel

final class FluxTransformerForwardTests: XCTestCase {
    /// Loads through the product path: `FluxTransformer(directory:)` over a memory-mapped SafeTensorsCheckpoint.
    func runFixture(model: String, expected: String) throws {
        let transformer = try FluxTransformer(directory: FluxFixtures.url(model))
        let io = try FixtureTensors(url: FluxFixtures.url("expected/\(expected).safetensors"))
        let out = try transformer.forward(
            hiddenStates: io["hidden_states"], encoderHiddenStates: io["encoder_hidden_states"],
            pooledProjections: io["pooled_projections"], timestep: io["timestep"].storage,
            guidance: io.tensors["guidance"]?.storage, imgIds: io["img_ids"], txtIds: io["txt_ids"])
        let reference = io["sample"]
        let diff = maxAbsDifference(out, reference)
        XCTAssertLessThanOrEqual(diff, 1e-4 * reference.maxAbs, "max |Δ| \(diff) vs max |ref| \(reference.maxAbs)")
    }

    func testGuidanceForwardMatchesDiffusers() throws {
        try runFixture(model: "tiny-flux/transformer", expected: "flux_forward_guidance")
    }

    /// No guidance embedder, 5 heads of 12 (odd head count), non-square 3×5 token grid.
    func testNoGuidanceOddHeadsForwardMatchesDiffusers() throws {
        try runFixture(model: "transformer-noguidance", expected: "flux_forward_noguidance")
    }
}
