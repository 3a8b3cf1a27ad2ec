import ArgumentParser

/// `ternflux debug …`: parity commands that run one component on tensors from a safetensors file and write
/// its output, for the tests and for anyone checking fidelity against diffusers / transformers.
struct DebugCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "debug",
        abstract: "Run one model component on saved inputs (parity checks).",
        subcommands: [
            DebugVAEDecodeCommand.self,
            DebugEncodeTextCommand.self,
            DebugFluxForwardCommand.self,
        ]
    )
}
