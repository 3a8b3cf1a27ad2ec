import ArgumentParser

@main
struct TernFlux: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "ternflux",
        abstract: "Bulk text-to-image generation with ternary (1.58-bit) FLUX-architecture models.",
        version: version,
        subcommands: [
            MigrateCommand.self,
            DevBrokerCommand.self,
            DebugCommand.self,
            QuantizeCommand.self,
            BenchCommand.self,
            GenerateCommand.self,
            EvalCommand.self,
            SubmitCommand.self,
            WorkerCommand.self,
            RequeueCommand.self,
            StatusCommand.self,
            HistoryCommand.self,
            CancelCommand.self,
        ]
    )
}
