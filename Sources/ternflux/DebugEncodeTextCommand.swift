import ArgumentParser
import FluxModel
import Foundation
import TernaryTensors

/// `ternflux debug encode-text`: FluxPipeline.encode_prompt for one prompt, written as safetensors
/// (`clip_input_ids` [1, 77] I64, `t5_input_ids` [1, N] I64, `pooled_prompt_embeds` [1, P], `prompt_embeds` [1, N, J]).
struct DebugEncodeTextCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encode-text",
        abstract: "Tokenize and encode a prompt with the model's CLIP and T5 encoders."
    )

    @Option(name: .long, help: "Model folder in the diffusers layout (tokenizer/, tokenizer_2/, text_encoder/, text_encoder_2/).")
    var model: String

    @Option(name: .long, help: "The prompt.")
    var prompt: String

    @Option(name: .long, help: "Output safetensors file.")
    var output: String

    @Option(name: .customLong("max-sequence-length"), help: "T5 sequence length (1…512).")
    var maxSequenceLength: Int = 512

    @OptionGroup var activation: ActivationModeOption

    func run() throws {
        let conditioner = try FluxTextConditioner(modelDirectory: URL(fileURLWithPath: model), mode: activation.mode)
        let result = try conditioner.encode(prompt, maxSequenceLength: maxSequenceLength)
        for warning in result.warnings {
            FileHandle.standardError.write(Data(("warning: " + warning + "\n").utf8))
        }
        let tensors = [
            TensorInfo(name: "clip_input_ids", dtype: .i64, shape: [1, result.clipInputIDs.count]),
            TensorInfo(name: "t5_input_ids", dtype: .i64, shape: [1, result.t5InputIDs.count]),
            TensorInfo(name: "pooled_prompt_embeds", dtype: .f32, shape: result.pooled.shape),
            TensorInfo(name: "prompt_embeds", dtype: .f32, shape: result.promptEmbeds.shape),
        ]
        let writer = try SafeTensorsWriter(url: URL(fileURLWithPath: output), tensors: tensors,
                                           metadata: ["prompt": prompt, "max_sequence_length": "\(maxSequenceLength)"])
        try writer.write("clip_input_ids", data: Self.int64Bytes(result.clipInputIDs))
        try writer.write("t5_input_ids", data: Self.int64Bytes(result.t5InputIDs))
        try writer.write("pooled_prompt_embeds", floats: result.pooled.storage)
        try writer.write("prompt_embeds", floats: result.promptEmbeds.storage)
        try writer.finish()
    }

    static func int64Bytes(_ values: [Int]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(values.count * 8)
        for v in values { withUnsafeBytes(of: Int64(v).littleEndian) { bytes.append(contentsOf: $0) } }
        return bytes
    }
}
