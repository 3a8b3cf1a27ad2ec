import ArgumentParser
import TernaryTensors

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
            ConvertCommand.self,
            QuantizeCommand.self,
            DistillCommand.self,
            BenchCommand.self,
            GenerateCommand.self,
            EvalCommand.self,
            SubmitCommand.self,
            WorkerCommand.self,
            RequeueCommand.self,
            StatusCommand.self,
            HistoryCommand.self,
            InspectCommand.self,
            CancelCommand.self,
            ServeCommand.self,
        ]
    )

    /// As ArgumentParser's own entry point, after checking TERNFLUX_THREADS (a bad value is an error, exit 64, before
    /// any command runs) and capping OpenBLAS at it.
    static func main() async {
        do {
            try ComputeThreads.validateEnvironment()
        } catch {
            exit(withError: ValidationError("\(error)"))
        }
        BLASThreads.applyCap()
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
