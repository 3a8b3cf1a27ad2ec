import ArgumentParser
import Foundation
import TernFluxBench
import FluxModel
import TernaryTensors

/// Writes a transformer folder with FLUX.1-dev's dimensions and random ternary block weights, in the checkpoint
/// format `ternflux quantize` writes, for measuring memory-mapped replicas of a full-size model.
struct BenchMakeFluxCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "make-flux",
        abstract: "Write a random ternary transformer folder with FLUX.1-dev's dimensions (i2 ≈ 3.1 GB, t3 ≈ 2.5 GB).")

    @Argument(help: "Destination folder (config.json and diffusion_pytorch_model.safetensors are written there).")
    var destination: String
    @Option(help: "Packing: i2 or t3.") var format = "i2"
    @Option(help: "Double-stream blocks.") var double = 19
    @Option(help: "Single-stream blocks.") var single = 38
    @Option(help: "Seed of the random weights.") var seed: UInt64 = 0
    @Flag(help: "Overwrite an existing checkpoint in the destination.") var force = false

    func run() throws {
        guard let packing = TernaryFormat(rawValue: format) else { throw ValidationError("--format must be i2 or t3, got '\(format)'") }
        guard double >= 0, single >= 0 else { throw ValidationError("--double and --single must be ≥ 0") }
        let dir = URL(fileURLWithPath: destination)
        let file = dir.appendingPathComponent(RandomTernaryWeights.checkpointFileName)
        if FileManager.default.fileExists(atPath: file.path) && !force {
            throw FluxCommandError("\(file.path) already exists (pass --force to overwrite)")
        }
        let config = FluxTransformerConfig(patchSize: 1, inChannels: 64, numLayers: double, numSingleLayers: single,
                                           attentionHeadDim: 128, numAttentionHeads: 24, jointAttentionDim: 4096,
                                           pooledProjectionDim: 768, guidanceEmbeds: true, axesDimsRope: [16, 56, 56])
        let start = Date()
        let report = try RandomTernaryWeights(config: config, format: packing, seed: seed).writeCheckpoint(to: dir)
        print(String(format: "%@: %.3f GB (packed block weights %.3f GB, bf16 rest %.3f GB) in %.1f s", report.weightsFile.path,
                     Double(report.fileBytes) / 1e9, Double(report.packedBytes) / 1e9, Double(report.denseBytes) / 1e9,
                     Date().timeIntervalSince(start)))
    }
}
