import ArgumentParser
import Foundation
import JobModel
import JobQueue
import JobStore
import Logging
import ServiceLifecycle
import TernaryTensors
import Worker
import FluxModel

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Join the consumer group and generate images for jobs until stopped (SIGTERM/SIGINT finish the current job first).",
        discussion: "Run as many worker processes per node as memory allows: the ternary weights are memory-mapped, so replicas share one copy."
    )

    @Option(help: "Model folder (diffusers layout; default: $TERNFLUX_MODEL, else models/default).")
    var model: String?

    @Option(name: .customLong("model-name"), help: "Names this worker serves in the jobs' `model` field (repeatable; default: default and the folder's name).")
    var modelNames: [String] = []

    @Option(help: "Output root for BATCH/JOB.png (default: $TERNFLUX_OUTPUT_DIR, else ./out).")
    var output: String?

    @Option(name: .customLong("job-timeout"), help: "Seconds one job may run before it is failed (and retried).") var jobTimeout: Double = 600
    @Option(name: .customLong("shutdown-grace"), help: "Seconds the current job may still run after SIGTERM before it is handed back.") var shutdownGrace: Double = 60
    @Option(name: .customLong("exit-when-idle"), help: "Stop after this many seconds without a job (default: run until signalled).") var exitWhenIdle: Double?
    @Option(name: .customLong("max-jobs"), help: "Stop after this many records (per slot).") var maxJobs: Int?
    @Option(help: "Generation slots in this process around one loaded model: each is its own consumer-group member and worker (ids ID-1 … ID-N when N > 1), and their jobs run at the same time.")
    var slots = 1
    @Option(name: .customLong("worker-id"), help: "Worker id recorded in the database (default: host-pid-random).") var workerID: String?
    @Option(name: .customLong("max-attempts"), help: "Attempts before a failing job goes to the dead-letter topic.") var maxAttempts = 3
    @Option(name: .customLong("group"), help: "Kafka consumer group.") var group = "ternflux-workers"
    @Flag(name: .customLong("fixed-image"), help: "Serve a fixed tiny image instead of running a model (measures the queue and database path).")
    var fixedImage = false
    @Option(name: .customLong("fixed-image-delay"), help: "With --fixed-image: seconds each job pretends to take.")
    var fixedImageDelay: Double = 0
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.") var logLevel: String = "info"
    @Option(name: .customLong("metrics-port"), help: "TCP port of the HTTP listener serving /metrics, /healthz and /readyz (default: $TERNFLUX_METRICS_PORT, else 9464; 0 picks a free port and logs it).")
    var metricsPort: Int?
    @Option(name: .customLong("metrics-host"), help: "Address the HTTP listener binds.") var metricsHost = "0.0.0.0"
    @Option(name: .customLong("metrics-max-connections"), help: "Connections the HTTP listener keeps open at most; one more closes the least recently active.")
    var metricsMaxConnections = MetricsServer.Limits().maxConnections
    @Option(name: .customLong("metrics-idle-timeout"), help: "Seconds the HTTP listener keeps a connection that sends nothing.")
    var metricsIdleTimeout = MetricsServer.Limits().idleTimeoutSeconds

    @Option(name: .customLong("webhook-secret-file"), help: ArgumentHelp("File holding the HMAC-SHA256 secret completion webhooks are signed with (default: $TERNFLUX_WEBHOOK_SECRET_FILE, else $TERNFLUX_WEBHOOK_SECRET; none: this worker delivers no webhooks).", valueName: "file"))
    var webhookSecretFile: String?
    @Option(name: .customLong("webhook-max-attempts"), help: "Attempts a completion webhook gets before it is marked failed.")
    var webhookMaxAttempts = 12
    @Flag(name: .customLong("webhook-allow-private-addresses"), help: "Let completion webhooks call loopback, private and link-local addresses (refused by default).")
    var webhookAllowPrivateAddresses = false

    @OptionGroup var activation: ActivationModeOption
    @OptionGroup var deviceOption: DeviceOption
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var kafka: KafkaOptions

    func run() async throws {
        guard let level = Logger.Level(rawValue: logLevel) else { throw ValidationError("--log-level '\(logLevel)' is not a log level") }
        var logger = Logger(label: "ternflux.worker")
        logger.logLevel = level
        let outputRoot = URL(fileURLWithPath: output ?? ProcessInfo.processInfo.environment["TERNFLUX_OUTPUT_DIR"] ?? "out")
        var config = WorkerConfiguration(kafka: try kafka.settings(), database: try database.settings(),
                                         outputRoot: outputRoot, workerID: workerID)
        config.groupID = group
        config.jobTimeoutSeconds = jobTimeout
        config.shutdownGraceSeconds = shutdownGrace
        config.retryPolicy.maxAttempts = maxAttempts
        config.webhooks = try webhookPolicy()

        // The most descriptors the system grants, for image files and the Kafka and PostgreSQL sockets
        // (the listener below takes at most --metrics-max-connections of them).
        do {
            let limit = try DescriptorLimit.raiseSoftToHard()
            logger.info("open-file limit \(limit)")
        } catch {
            logger.warning("keeping the open-file limit", metadata: ["error": "\(error)"])
        }

        // The listener comes first, so probes answer (unready) while the model loads and while Kafka or
        // Postgres are retried.
        let metrics = WorkerMetrics()
        let limits = MetricsServer.Limits(idleTimeoutSeconds: metricsIdleTimeout, maxConnections: metricsMaxConnections)
        let server: MetricsServer
        if let port = try explicitMetricsPort() {
            server = try MetricsServer(host: metricsHost, port: port, metrics: metrics, limits: limits)
        } else {
            do {
                server = try MetricsServer(host: metricsHost, port: Self.defaultMetricsPort, metrics: metrics, limits: limits)
            } catch {
                // Several workers on one host without ports of their own: the later ones take any free port.
                logger.warning("default metrics port \(Self.defaultMetricsPort) is taken; using a free port", metadata: ["error": "\(error)"])
                server = try MetricsServer(host: metricsHost, port: 0, metrics: metrics, limits: limits)
            }
        }
        logger.notice("metrics endpoint listening on \(server.host):\(server.port)",
                      metadata: ["paths": "/metrics /healthz /readyz", "max_connections": "\(limits.maxConnections)",
                                 "idle_timeout_s": "\(limits.idleTimeoutSeconds)", "header_timeout_s": "\(limits.headerTimeoutSeconds)"])

        let generator: any ImageGenerator
        if fixedImage {
            generator = try FixedImageGenerator(modelNames: modelNames.isEmpty ? ["default"] : modelNames, delaySeconds: fixedImageDelay)
        } else {
            let folder = try ModelFolder.resolve(flag: model)
            let device = try deviceOption.resolve(mode: activation.mode)
            logger.info("loading model", metadata: ["folder": "\(folder.path)", "mode": "\(activation.mode.rawValue)", "device": "\(device)"])
            metrics.setModelFolder(folder)
            let flux = try FluxImageGenerator(modelDirectory: folder, mode: activation.mode, device: device, extraNames: modelNames)
            if case .cuda = device {
                logger.notice("ternary linears on the GPU", metadata: [
                    "device": "\(device)", "layers": "\(flux.pipeline.transformer.deviceLayerCount)",
                    "weight_bytes": "\(flux.pipeline.transformer.deviceWeightBytes)"])
            }
            metrics.setDeviceWeightBytes(flux.pipeline.transformer.deviceWeightBytes, device: "\(device)")
            if case .cuda(let ordinal) = device { try checkSlotsFit(flux, ordinal: ordinal) }
            generator = flux
        }
        metrics.health.setModelLoaded()
        // One model, `slots` loops: the weights are loaded (and placed on the GPU) once.
        let ids = WorkerSlots.workerIDs(base: config.workerID, count: slots)
        if slots > 1 { logger.notice("running \(slots) generation slots", metadata: ["worker_ids": "\(ids.joined(separator: " "))"]) }
        let worker = WorkerSlots(ids.map { id in
            var slotConfig = config
            slotConfig.workerID = id
            return WorkerService(configuration: slotConfig, generator: generator, logger: logger, metrics: metrics,
                                 stopRule: WorkerStopRule(idleSeconds: exitWhenIdle, maxRecords: maxJobs))
        })
        // Shut down in reverse order: the worker finishes (or hands back) its job first, while the listener
        // still answers probes (unready); a worker that stops on its own (--exit-when-idle) ends the group.
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [.init(service: MetricsService(server: server)),
                       .init(service: worker, successTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }

    static let defaultMetricsPort = 9464

    /// A slot count whose activation scratch cannot fit next to the weights is refused at start, naming the
    /// figures, rather than failing jobs later: each slot may run the largest job the limits allow.
    func checkSlotsFit(_ flux: FluxImageGenerator, ordinal: Int) throws {
        let side = JobLimits.standard.sideRange.upperBound
        let tokens = flux.pipeline.defaultMaxSequenceLength + (side / 16) * (side / 16)
        let perSlot = flux.pipeline.transformer.deviceScratchBytes(tokens: tokens)
        let free = try CUDADevice.memory(ordinal).free
        if slots * perSlot > free {
            throw FluxCommandError(String(format: "--slots %d needs %.0f MiB of activation memory on cuda:%d (%.0f MiB per slot for a %d×%d job, %d tokens), but %.0f MiB is free after the weights; use --slots %d or fewer",
                                          slots, Double(slots * perSlot) / 1_048_576, ordinal, Double(perSlot) / 1_048_576, side, side, tokens,
                                          Double(free) / 1_048_576, max(0, free / max(perSlot, 1))))
        }
    }

    /// `--metrics-port`, else `$TERNFLUX_METRICS_PORT`; nil when neither is given (the default port).
    /// A port asked for explicitly must be free: failing to bind it stops the worker.
    func explicitMetricsPort() throws -> Int? {
        if let metricsPort { return metricsPort }
        guard let text = ProcessInfo.processInfo.environment["TERNFLUX_METRICS_PORT"], !text.isEmpty else { return nil }
        guard let port = Int(text) else { throw ValidationError("TERNFLUX_METRICS_PORT='\(text)' is not a port number") }
        return port
    }
}
