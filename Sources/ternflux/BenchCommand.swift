import ArgumentParser

/// `ternflux bench …`: performance measurements; each benchmark is one subcommand in its own file.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Performance benchmarks.",
        subcommands: [
            BenchDensityCommand.self,
            BenchFluxStepCommand.self,
            BenchGenerateCommand.self,
            BenchKernelsCommand.self,
            BenchMakeFluxCommand.self,
            BenchPipelineCommand.self,
            BenchReplicaCommand.self,
        ]
    )
}
