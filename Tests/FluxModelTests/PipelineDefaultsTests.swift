import Foundation
import XCTest
@testable import FluxModel

/// A model folder states the T5 length it was trained with in tokenizer_2's `model_max_length`.
final class PipelineDefaultsTests: XCTestCase {
    /// The package root: the folder holding Tests/Fixtures.
    var packageRoot: URL { FluxFixtures.root.deletingLastPathComponent().deletingLastPathComponent() }

    func testShippedModelRunsWithItsTrainingLengthAndFixtureWithDiffusersDefault() throws {
        XCTAssertEqual(FluxPipeline.tokenizerMaxLength(packageRoot.appendingPathComponent("models/default/tokenizer_2")), 32)
        XCTAssertNil(FluxPipeline.tokenizerMaxLength(packageRoot.appendingPathComponent("Tests/Fixtures/tiny-flux/tokenizer_2")))
        let pipeline = try FluxPipeline(modelDirectory: packageRoot.appendingPathComponent("models/default"))
        XCTAssertEqual(pipeline.defaultMaxSequenceLength, 32)
    }
}
