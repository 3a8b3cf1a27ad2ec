import Foundation
import TernaryTensors

/// What FluxPipeline.encode_prompt produces for one prompt.
public struct TextConditioning: Sendable {
    /// CLIP ids padded/truncated to the CLIP tokenizer's maximum (77).
    public var clipInputIDs: [Int]
    /// T5 ids padded/truncated to `maxSequenceLength`.
    public var t5InputIDs: [Int]
    /// CLIP pooled output [1, P].
    public var pooled: Tensor
    /// T5 last hidden state [1, T, J].
    public var promptEmbeds: Tensor
    /// diffusers' truncation warnings, word for word.
    public var warnings: [String]

    public init(clipInputIDs: [Int], t5InputIDs: [Int], pooled: Tensor, promptEmbeds: Tensor, warnings: [String]) {
        self.clipInputIDs = clipInputIDs
        self.t5InputIDs = t5InputIDs
        self.pooled = pooled
        self.promptEmbeds = promptEmbeds
        self.warnings = warnings
    }
}

/// The conditioning of one generation request: the prompt's, the negative prompt's when classifier-free guidance
/// runs, and the wall time of tokenizing and of encoding both.
public struct PromptConditioning: Sendable {
    public var prompt: TextConditioning
    public var negative: TextConditioning?
    public var tokenizeSeconds: Double
    public var encodeSeconds: Double
}

public enum TextConditionerError: Error, CustomStringConvertible, Equatable {
    case invalidMaxSequenceLength(Int)

    public var description: String {
        switch self {
        case .invalidMaxSequenceLength(let n):
            return "max sequence length must be between 1 and 512 (as FluxPipeline requires), got \(n)"
        }
    }
}

/// FluxPipeline's prompt encoding: CLIP (`tokenizer/`, `text_encoder/`) gives the pooled embedding, T5
/// (`tokenizer_2/`, `text_encoder_2/`) the per-token embeddings; over-long prompts are truncated with diffusers'
/// warnings (including its use of the CLIP length when slicing the T5 removed text).
public final class FluxTextConditioner: @unchecked Sendable {
    public let clipTokenizer: CLIPTokenizer
    public let t5Tokenizer: T5Tokenizer
    public let clipEncoder: CLIPTextEncoder
    public let t5Encoder: T5TextEncoder
    /// diffusers' `tokenizer_max_length`: the CLIP tokenizer's `model_max_length`, 77 when it sets none.
    public let clipMaxLength: Int

    public init(modelDirectory: URL, mode: ActivationMode = .f32) throws {
        clipTokenizer = try CLIPTokenizer(directory: modelDirectory.appendingPathComponent("tokenizer"))
        t5Tokenizer = try T5Tokenizer(directory: modelDirectory.appendingPathComponent("tokenizer_2"))
        clipEncoder = try CLIPTextEncoder(directory: modelDirectory.appendingPathComponent("text_encoder"), mode: mode)
        t5Encoder = try T5TextEncoder(directory: modelDirectory.appendingPathComponent("text_encoder_2"), mode: mode)
        clipMaxLength = clipTokenizer.modelMaxLength ?? 77
    }

    public init(clipTokenizer: CLIPTokenizer, t5Tokenizer: T5Tokenizer, clipEncoder: CLIPTextEncoder, t5Encoder: T5TextEncoder) {
        self.clipTokenizer = clipTokenizer
        self.t5Tokenizer = t5Tokenizer
        self.clipEncoder = clipEncoder
        self.t5Encoder = t5Encoder
        clipMaxLength = clipTokenizer.modelMaxLength ?? 77
    }

    /// The T5 length rule (FluxPipeline accepts 1…512), written only here.
    public static func validate(maxSequenceLength: Int) throws {
        guard (1...512).contains(maxSequenceLength) else { throw TextConditionerError.invalidMaxSequenceLength(maxSequenceLength) }
    }

    public func encode(_ prompt: String, maxSequenceLength: Int = 512) throws -> TextConditioning {
        try Self.validate(maxSequenceLength: maxSequenceLength)
        return try condition(prompt, negativePrompt: nil, maxSequenceLength: maxSequenceLength).prompt
    }

    /// The prompt and, when given, the negative prompt: both tokenized, then both encoded, each phase timed. The
    /// warnings are the prompt's (diffusers logs none for the negative prompt either). `maxSequenceLength` has been
    /// checked by the caller (`FluxPipeline.validate`, or `encode`).
    func condition(_ prompt: String, negativePrompt: String?, maxSequenceLength: Int) throws -> PromptConditioning {
        var clock = PhaseClock()
        let (clip, t5, warnings) = try tokenize(prompt, maxSequenceLength: maxSequenceLength)
        let negativeTokens = try negativePrompt.map { try tokenize($0, maxSequenceLength: maxSequenceLength) }
        let tokenizeSeconds = clock.lap()
        func encoded(_ clip: TokenizedPrompt, _ t5: TokenizedPrompt, _ warnings: [String]) throws -> TextConditioning {
            TextConditioning(clipInputIDs: clip.ids, t5InputIDs: t5.ids, pooled: try clipEncoder.encode(clip.ids).pooled,
                             promptEmbeds: try t5Encoder.encode(t5.ids), warnings: warnings)
        }
        let positive = try encoded(clip, t5, warnings)
        let negative = try negativeTokens.map { try encoded($0.clip, $0.t5, []) }
        return PromptConditioning(prompt: positive, negative: negative, tokenizeSeconds: tokenizeSeconds,
                                  encodeSeconds: clock.lap())
    }

    /// Both tokenizations and the warnings diffusers logs for them.
    public func tokenize(_ prompt: String, maxSequenceLength: Int) throws -> (clip: TokenizedPrompt, t5: TokenizedPrompt, warnings: [String]) {
        let clip = try clipTokenizer.encode(prompt, maxLength: clipMaxLength)
        let t5 = try t5Tokenizer.encode(prompt, maxLength: maxSequenceLength)
        var warnings: [String] = []
        if clip.wasTruncated {
            let removed = clipTokenizer.decode(Self.removedSlice(clip.untruncated, from: clipMaxLength - 1))
            warnings.append("The following part of your input was truncated because CLIP can only handle sequences up to"
                            + " \(clipMaxLength) tokens: \(PythonRepr.list([removed]))")
        }
        if t5.wasTruncated {
            // diffusers slices the T5 ids with the CLIP tokenizer's length (`self.tokenizer_max_length - 1 : -1`).
            let removed = t5Tokenizer.decode(Self.removedSlice(t5.untruncated, from: clipMaxLength - 1))
            warnings.append("The following part of your input was truncated because `max_sequence_length` is set to "
                            + " \(maxSequenceLength) tokens: \(PythonRepr.list([removed]))")
        }
        return (clip, t5, warnings)
    }

    /// Python's `ids[start:-1]`.
    static func removedSlice(_ ids: [Int], from start: Int) -> [Int] {
        let end = ids.count - 1
        guard start < end else { return [] }
        return Array(ids[max(0, start)..<end])
    }
}
