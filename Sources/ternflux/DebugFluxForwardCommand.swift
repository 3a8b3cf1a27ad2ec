import ArgumentParser
import Foundation
import FluxModel
import TernaryTensors

/// `ternflux debug flux-forward`: one FluxTransformer2DModel forward on tensors saved by the reference.
struct DebugFluxForwardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flux-forward",
        abstract: "Run the FLUX transformer once on saved inputs and write `sample`.",
        discussion: """
            IN.safetensors holds hidden_states [B,S,C], encoder_hidden_states [B,T,J], pooled_projections [B,P], \
            timestep [B] (σ, the value diffusers' transformer receives), guidance [B] (only for models with \
            guidance_embeds), img_ids [S,3] and txt_ids [T,3]. OUT.safetensors gets `sample` [B,S,C'] (F32). \
            Works for fp checkpoints and for ternary ones written by `ternflux quantize`.
            """)

    @Option(help: "A transformer folder (config.json + *.safetensors).") var transformer: String
    @Option(help: "Input tensors (safetensors).") var inputs: String
    @Option(help: "Where to write `sample` (safetensors).") var output: String
    @OptionGroup var activation: ActivationModeOption
    @OptionGroup var deviceOption: DeviceOption

    func run() throws {
        let model = try FluxTransformer(directory: URL(fileURLWithPath: transformer), mode: activation.mode,
                                        device: try deviceOption.resolve(mode: activation.mode))
        model.reportPlacement()
        let file = try SafeTensorsFile(url: URL(fileURLWithPath: inputs))
        func input(_ name: String) throws -> Tensor {
            guard file.contains(name) else { throw FluxCommandError("\(inputs) has no tensor '\(name)'") }
            return try file.tensor(name)
        }
        let guidance = file.contains("guidance") ? try input("guidance").storage : nil
        let sample = try model.forward(
            hiddenStates: try input("hidden_states"), encoderHiddenStates: try input("encoder_hidden_states"),
            pooledProjections: try input("pooled_projections"), timestep: try input("timestep").storage,
            guidance: guidance, imgIds: try input("img_ids"), txtIds: try input("txt_ids"))
        let writer = try SafeTensorsWriter(url: URL(fileURLWithPath: output),
                                           tensors: [TensorInfo(name: "sample", dtype: .f32, shape: sample.shape)],
                                           metadata: ["producer": "ternflux debug flux-forward", "mode": activation.mode.rawValue])
        try writer.write("sample", floats: sample.storage)
        try writer.finish()
    }
}
