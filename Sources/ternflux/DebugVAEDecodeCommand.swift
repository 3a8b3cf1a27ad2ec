import ArgumentParser
import Foundation
import FluxModel
import TernaryTensors

/// `ternflux debug vae-decode`: the AutoencoderKL decoder on saved latents.
struct DebugVAEDecodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vae-decode",
        abstract: "Run the VAE decoder once on saved latents and write `sample`.",
        discussion: """
            IN.safetensors holds `latents` [B,C,h,w], passed straight to the decoder (no scaling or shift: \
            FluxPipeline applies z / scaling_factor + shift_factor before decoding). OUT.safetensors gets \
            `sample` [B,3,8h,8w] for FLUX's VAE (F32), before any post-processing.
            """)

    @Option(help: "A VAE folder (config.json + diffusion_pytorch_model.safetensors).") var vae: String
    @Option(help: "Input tensors (safetensors) with `latents`.") var inputs: String
    @Option(help: "Where to write `sample` (safetensors).") var output: String

    func run() throws {
        let decoder = try VAEDecoder(directory: URL(fileURLWithPath: vae))
        let file = try SafeTensorsFile(url: URL(fileURLWithPath: inputs))
        guard file.contains("latents") else { throw ValidationError("\(inputs) has no tensor 'latents'") }
        let started = Date()
        let sample = try decoder.decode(try file.tensor("latents"))
        let seconds = Date().timeIntervalSince(started)
        let writer = try SafeTensorsWriter(url: URL(fileURLWithPath: output),
                                           tensors: [TensorInfo(name: "sample", dtype: .f32, shape: sample.shape)],
                                           metadata: ["producer": "ternflux debug vae-decode"])
        try writer.write("sample", floats: sample.storage)
        try writer.finish()
        FileHandle.standardError.write(Data(String(format: "vae-decode: %@ → %@ in %.3f s\n",
                                                   "\(try file.info("latents").shape)", "\(sample.shape)", seconds).utf8))
    }
}
