import Foundation
import XCTest
@testable import FluxModel

/// The configs `ternflux convert` writes have the exact text diffusers' `save_pretrained` gives (Python's
/// json.dumps, indent 2, sorted keys), checked on the diffusers-written tiny-flux files (whose scheduler and
/// model index are FLUX.1-dev's); the converter leaves out only the `_diffusers_version` line.
final class ConfigJSONTests: XCTestCase {
    private func diffusersText(_ path: String) throws -> String {
        try String(contentsOf: FluxFixtures.url(path), encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.contains("\"_diffusers_version\"") }.joined(separator: "\n")
    }

    func testConfigsReadLikeDiffusersWrittenOnes() throws {
        let transformer = try FluxTransformerConfig.load(from: FluxFixtures.url("tiny-flux/transformer/config.json"))
        XCTAssertEqual(BFLTransformerMapping.configJSON(transformer).text, try diffusersText("tiny-flux/transformer/config.json"))
        let vae = try VAEDecoder(directory: FluxFixtures.url("tiny-flux/vae")).config
        XCTAssertEqual(LDMVAEMapping.configJSON(vae).text, try diffusersText("tiny-flux/vae/config.json"))
        XCTAssertEqual(FluxPipelineFiles.schedulerConfig(.dev).text, try diffusersText("tiny-flux/scheduler/scheduler_config.json"))
        XCTAssertEqual(FluxPipelineFiles.modelIndex.text, try diffusersText("tiny-flux/model_index.json"))
    }

    func testPythonFloatsAndEscapes() {
        XCTAssertEqual(ConfigJSON.python(1e-5), "1e-05")
        XCTAssertEqual(ConfigJSON.python(1e-6), "1e-06")
        XCTAssertEqual(ConfigJSON.python(3), "3.0")
        XCTAssertEqual(ConfigJSON.python(0.3611), "0.3611")
        XCTAssertEqual(ConfigJSON.python(1e16), "1e+16")
        XCTAssertEqual(ConfigJSON.string("a\"b\\é\n").text, "\"a\\\"b\\\\\\u00e9\\n\"\n")
        XCTAssertEqual(ConfigJSON.object(["b": .array([]), "a": .object([:])]).text, "{\n  \"a\": {},\n  \"b\": []\n}\n")
    }
}
