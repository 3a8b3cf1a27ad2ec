import ArgumentParser
import FluxModel

/// The values a single-file checkpoint does not store, for models whose sizes are not FLUX.1's (shared by
/// `convert` and `quantize`). The released FLUX.1 files need none of them.
struct SingleFileOptions: ParsableArguments {
    @Option(name: .customLong("axes-dims-rope"),
            help: "Transformer axes_dims_rope as A,B,C (default: FLUX.1's 16,56,56, which needs head dim 128).")
    var axesDimsRope: String?

    @Option(name: .customLong("vae-norm-num-groups"), help: "VAE norm_num_groups (default: FLUX.1's 32).")
    var vaeNormNumGroups: Int?

    @Option(name: .customLong("clip-attention-heads"), help: "CLIP num_attention_heads (default: hidden size / 64).")
    var clipAttentionHeads: Int?

    func validate() throws {
        _ = try parsed()
    }

    /// The options as the converter takes them; a malformed value is a validation error naming the flag.
    func parsed() throws -> SingleFileConversionOptions {
        var axes: [Int]?
        if let text = axesDimsRope {
            let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard parts.count == 3, parts.allSatisfy({ $0 != nil && $0! >= 2 && $0! % 2 == 0 }) else {
                throw ValidationError("--axes-dims-rope must be three positive even numbers like 16,56,56, got '\(text)'")
            }
            axes = parts.map { $0! }
        }
        if let n = vaeNormNumGroups, n < 1 { throw ValidationError("--vae-norm-num-groups must be at least 1, got \(n)") }
        if let n = clipAttentionHeads, n < 1 { throw ValidationError("--clip-attention-heads must be at least 1, got \(n)") }
        return SingleFileConversionOptions(axesDimsRope: axes, vaeNormNumGroups: vaeNormNumGroups, clipAttentionHeads: clipAttentionHeads)
    }
}
