import ArgumentParser
import TernaryTensors

/// `--mode`: how activations enter the ternary block linears, one typed option with one default for every command
/// that runs a model (generate, eval, worker, bench generate / density / replica, debug flux-forward /
/// encode-text). `bench flux-step` keeps its own `--mode`, which adds `both`: it times the two modes side by side.
struct ActivationModeOption: ParsableArguments {
    /// int8 scores as f32 does on the shipped model's mini-GenEval (docs/flux-pipeline.md, "Activation mode")
    /// and is the mode the kernels are fastest in.
    static let defaultMode: ActivationMode = .int8

    @Option(help: "Activation mode of the ternary block linears: f32 or int8 (per-token int8, as BitNet b1.58). A model without ternary linears runs the same in both.")
    var mode: ActivationMode = Self.defaultMode
}

extension ActivationMode: ExpressibleByArgument {}
