import APIServer
import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle

/// `ternflux serve`: the HTTP API (/v1, /openapi.json, /healthz) and the web gallery (/), over the job database,
/// the Kafka cluster and the workers' image folder (docs/api.md).
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the HTTP API and the web gallery: submit batches, follow progress, browse images.",
        discussion: """
        Without a tokens file the API has no authentication and only loopback addresses are accepted for --host. With \
        one (--tokens-file or TERNFLUX_API_TOKENS_FILE: lines `TOKEN read` or `TOKEN submit`, # comments), /v1 needs \
        `Authorization: Bearer TOKEN`, and POSTs need a submit token. Prints the gallery's URL once it listens; \
        SIGTERM or SIGINT stops it after the requests in hand.
        """)

    @Option(help: "Address to listen on; without tokens only loopback (127.0.0.1, ::1, localhost).") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0: any free port, printed).") var port = 8080
    @Option(help: "Image root the workers write BATCH/JOB.png to (default: $TERNFLUX_OUTPUT_DIR, else ./out).") var output: String?
    @Option(name: .customLong("tokens-file"), help: ArgumentHelp(
        "Bearer tokens, one `TOKEN read|submit` per line (default: $TERNFLUX_API_TOKENS_FILE; none: no authentication, loopback only).",
        valueName: "path"))
    var tokensFile: String?
    @Option(name: .customLong("max-body-bytes"), help: "Largest request body accepted (413 beyond).")
    var maxBodyBytes = APIServerConfiguration.defaultMaxBodyBytes
    @Option(name: .customLong("idle-timeout"), help: "Seconds a client connection may send and receive nothing before it is closed.")
    var idleTimeout = 60.0
    @Option(name: .customLong("max-connections"), help: "Client connections open at once; more wait in the listen backlog.")
    var maxConnections = 512
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.") var logLevel = "info"

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var kafka: KafkaOptions

    func run() async throws {
        guard let level = Logger.Level(rawValue: logLevel) else { throw ValidationError("--log-level '\(logLevel)' is not a log level") }
        var logger = Logger(label: "ternflux.serve")
        logger.logLevel = level
        let environment = ProcessInfo.processInfo.environment
        let tokens: APITokens
        if let path = tokensFile ?? environment["TERNFLUX_API_TOKENS_FILE"].flatMap({ $0.isEmpty ? nil : $0 }) {
            do { tokens = try APITokens.load(file: path) } catch { throw ValidationError("\(error)") }
        } else {
            tokens = .none
        }
        // libpq waits for a connection without limit by default; a request should rather get its 503.
        if environment["PGCONNECT_TIMEOUT"] == nil { setenv("PGCONNECT_TIMEOUT", "5", 1) }
        let configuration = APIServerConfiguration(
            host: host, port: port, outputRoot: URL(fileURLWithPath: output ?? environment["TERNFLUX_OUTPUT_DIR"] ?? "out"),
            tokens: tokens, database: try database.settings(), kafka: try kafka.settings(), maxBodyBytes: maxBodyBytes,
            idleTimeoutSeconds: idleTimeout, maxClientConnections: maxConnections)
        if let problem = configuration.problem() { throw ValidationError(problem.description) }
        let server = try APIServer(configuration: configuration, logger: logger)
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [.init(service: server, successTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        let host = self.host
        let announce = Task {
            guard let bound = try? await server.listeningPort() else { return }
            let shownHost = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
            // On stdout, for scripts (ops/demo.sh --serve reads it); the log has it too.
            print("ternflux serve: gallery and API at http://\(shownHost):\(bound)/ (\(tokens.isEmpty ? "no authentication" : "\(tokens.count) tokens"))")
            fflush(stdout)
            logger.notice("listening", metadata: ["host": "\(host)", "port": "\(bound)", "tokens": "\(tokens.count)"])
        }
        defer { announce.cancel() }
        try await group.run()
    }
}
