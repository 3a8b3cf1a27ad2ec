import ArgumentParser
import FluxModel

/// `--true-cfg-scale` and `--negative-prompt`: FluxPipeline's true classifier-free guidance, by default the
/// model's own (its generation_defaults.json `true_cfg_scale` / `negative_prompt`).
struct TrueCFGOptions: ParsableArguments {
    @Option(name: .customLong("true-cfg-scale"),
            help: "Classifier-free guidance scale against the negative prompt; 1 turns it off (default: the model's).")
    var trueCFGScale: Float?
    @Option(name: .customLong("negative-prompt"),
            help: "Negative prompt of classifier-free guidance (default: the model's; \"\" is the empty prompt).")
    var negativePrompt: String?

    func validate() throws {
        if let trueCFGScale, !TrueCFG.accepts(trueCFGScale) {
            throw ValidationError("--true-cfg-scale must be a number from \(TrueCFG.scaleRange.lowerBound) to "
                + "\(TrueCFG.scaleRange.upperBound), got \(trueCFGScale)")
        }
    }

    /// The request's scale and negative prompt: the flags where given, else the model's defaults.
    func apply(to request: inout FluxPipeline.Request, defaults: GenerationDefaults) {
        defaults.applyGuidance(to: &request)
        if let trueCFGScale { request.trueCFGScale = trueCFGScale }
        if let negativePrompt { request.negativePrompt = negativePrompt }
    }
}
