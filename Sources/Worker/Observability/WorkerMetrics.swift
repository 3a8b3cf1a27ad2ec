import Foundation
import JobModel
import JobQueue
import JobStore
import Metrics
// Only the registry: Prometheus' own Counter and Gauge would shadow swift-metrics' handles used here.
import class Prometheus.PrometheusCollectorRegistry

/// The worker's metrics, exactly the contract of docs/operations.md ("Metrics contract"): recorded
/// through swift-metrics handles made by `ContractMetricsFactory`, exported by a swift-prometheus
/// registry. Thread-safe: jobs are recorded from the consume loop, Kafka events from the polling
/// thread, heartbeats from the heartbeat thread, and the exposition is rendered on the HTTP thread.
public final class WorkerMetrics: @unchecked Sendable {
    public enum Name {
        public static let jobs = "ternflux_jobs_total"
        public static let deadLetters = "ternflux_dead_letters_total"
        public static let images = "ternflux_images_generated_total"
        public static let phaseDuration = "ternflux_job_phase_duration_seconds"
        public static let stepDuration = "ternflux_denoise_step_duration_seconds"
        public static let consumerLag = "ternflux_consumer_lag_messages"
        public static let assignedPartitions = "ternflux_consumer_assigned_partitions"
        public static let rebalances = "ternflux_consumer_rebalances_total"
        public static let residentMemory = "ternflux_worker_resident_memory_bytes"
        public static let mappedModel = "ternflux_model_mapped_bytes"
        public static let deviceWeights = "ternflux_device_weight_bytes"
        public static let lastHeartbeat = "ternflux_worker_last_heartbeat_timestamp_seconds"
        public static let busy = "ternflux_worker_busy"
        public static let ready = "ternflux_worker_ready"
        public static let info = "ternflux_worker_info"
    }

    /// `ternflux_jobs_total{outcome}` values.
    public enum Outcome: String, CaseIterable, Sendable {
        case succeeded, failed, retried, skipped, canceled
    }

    /// `ternflux_dead_letters_total{reason}` values.
    public enum DeadLetterReason: String, CaseIterable, Sendable {
        case maxAttempts = "max_attempts"
        case unidentifiable
    }

    /// `ternflux_job_phase_duration_seconds{phase}` values, in `job_timings` column order.
    public enum Phase: String, CaseIterable, Sendable {
        case queueWait = "queue_wait", tokenizeEncode = "tokenize_encode", denoise, vaeDecode = "vae_decode"
        case pngEncode = "png_encode", store, total
    }

    /// Bucket upper bounds (seconds) of both duration histograms; +Inf is implicit.
    public static let durationBuckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 600]

    public static let families: [String: ContractMetricsFactory.Family] = [
        Name.jobs: .init(help: "Consumed job records by committed outcome."),
        Name.deadLetters: .init(help: "Records produced to the dead-letter topic, by reason."),
        Name.images: .init(help: "PNG images written and recorded."),
        Name.phaseDuration: .init(help: "Per-phase time of each succeeded job, as in job_timings.", buckets: durationBuckets),
        Name.stepDuration: .init(help: "Time of each denoising step of succeeded jobs.", buckets: durationBuckets),
        Name.consumerLag: .init(help: "librdkafka consumer_lag of each partition assigned to this worker."),
        Name.assignedPartitions: .init(help: "Partitions assigned to this consumer-group member."),
        Name.rebalances: .init(help: "Rebalance callbacks seen (assignments and revocations)."),
        Name.residentMemory: .init(help: "Resident set size of the worker process."),
        Name.mappedModel: .init(help: "Bytes of model files memory-mapped by this process."),
        Name.deviceWeights: .init(help: "Bytes of ternary weights this process holds on its GPU, by device (0 on the CPU)."),
        Name.lastHeartbeat: .init(help: "Unix time of the last successful heartbeat write to Postgres."),
        Name.busy: .init(help: "Jobs running now: 1 while a job runs, else 0 (up to N with --slots N)."),
        Name.ready: .init(help: "1 when /readyz answers 200, else 0."),
        Name.info: .init(help: "Identifies the worker process; always 1."),
    ]

    public let registry: PrometheusCollectorRegistry
    public let health: WorkerHealth
    private let factory: ContractMetricsFactory
    private let jobs: [Outcome: Counter]
    private let deadLetters: [DeadLetterReason: Counter]
    private let images: Counter
    private let phases: [Phase: Recorder]
    private let steps: Recorder
    private let assignedPartitions: Gauge
    private let rebalances: Counter
    private let residentMemory: Gauge
    private let mappedModel: Gauge
    private let lastHeartbeat: Gauge
    private let busy: Gauge
    private let ready: Gauge

    private let lock = NSLock()
    private var assigned: Set<TopicPartition> = []
    private var lagGauges: [TopicPartition: Gauge] = [:]
    private var info: [String: (labels: [String], gauge: Gauge)] = [:]
    private var busyJobs = 0
    private var modelFolder: URL?
    private var deviceWeights: Gauge?

    public init(health: WorkerHealth = WorkerHealth()) {
        self.health = health
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        let factory = ContractMetricsFactory(registry: registry, families: Self.families)
        self.factory = factory
        // Every fixed label value exists from the start, so rate() and increase() see the first event.
        jobs = Dictionary(uniqueKeysWithValues: Outcome.allCases.map {
            ($0, Counter(label: Name.jobs, dimensions: [("outcome", $0.rawValue)], factory: factory))
        })
        deadLetters = Dictionary(uniqueKeysWithValues: DeadLetterReason.allCases.map {
            ($0, Counter(label: Name.deadLetters, dimensions: [("reason", $0.rawValue)], factory: factory))
        })
        images = Counter(label: Name.images, factory: factory)
        phases = Dictionary(uniqueKeysWithValues: Phase.allCases.map {
            ($0, Recorder(label: Name.phaseDuration, dimensions: [("phase", $0.rawValue)], aggregate: true, factory: factory))
        })
        steps = Recorder(label: Name.stepDuration, aggregate: true, factory: factory)
        assignedPartitions = Gauge(label: Name.assignedPartitions, factory: factory)
        rebalances = Counter(label: Name.rebalances, factory: factory)
        residentMemory = Gauge(label: Name.residentMemory, factory: factory)
        mappedModel = Gauge(label: Name.mappedModel, factory: factory)
        lastHeartbeat = Gauge(label: Name.lastHeartbeat, factory: factory)
        busy = Gauge(label: Name.busy, factory: factory)
        ready = Gauge(label: Name.ready, factory: factory)
        for gauge in [assignedPartitions, mappedModel, lastHeartbeat, busy, ready] { gauge.record(0) }
    }

    /// Sets `ternflux_worker_info` of one worker id (replacing an earlier one of that id) once its model is
    /// known; a process with several slots (`WorkerSlots`) has one series per slot.
    public func setInfo(workerID: String, model: String, version: String) {
        let labels = [workerID, model, version]
        lock.lock()
        defer { lock.unlock() }
        if let existing = info[workerID], existing.labels == labels { return }
        info[workerID]?.gauge.destroy()
        let gauge = Gauge(label: Name.info, dimensions: [("worker_id", workerID), ("model", model), ("version", version)],
                          factory: factory)
        gauge.record(1)
        info[workerID] = (labels, gauge)
    }

    /// `ternflux_device_weight_bytes{device}` once the model is loaded (`device` is cpu or cuda:N).
    public func setDeviceWeightBytes(_ bytes: Int, device: String) {
        lock.lock()
        defer { lock.unlock() }
        deviceWeights?.destroy()
        let gauge = Gauge(label: Name.deviceWeights, dimensions: [("device", device)], factory: factory)
        gauge.record(Double(bytes))
        deviceWeights = gauge
    }

    /// The model folder whose memory-mapped files `ternflux_model_mapped_bytes` counts (nil: none).
    public func setModelFolder(_ folder: URL?) {
        lock.lock(); modelFolder = folder?.resolvingSymlinksInPath(); lock.unlock()
    }

    // MARK: Jobs

    public func record(_ outcome: JobOutcome) {
        switch outcome {
        case .succeeded: jobs[.succeeded]!.increment()
        case .skipped(_, let state): jobs[state == .canceled ? .canceled : .skipped]!.increment()
        case .willRetry: jobs[.retried]!.increment()
        case .failed: jobs[.failed]!.increment()
        case .deadLettered, .givenBack: break // no job outcome committed (no job id / handed back unfinished)
        }
    }

    public func deadLettered(_ reason: DeadLetterReason) { deadLetters[reason]!.increment() }

    /// A succeeded job's recorded timings and its queue wait.
    public func observe(_ timings: JobTimings, queueWaitSeconds: Double) {
        images.increment()
        let seconds: [Phase: Double] = [
            .queueWait: queueWaitSeconds, .tokenizeEncode: timings.tokenizeEncode, .denoise: timings.denoise,
            .vaeDecode: timings.vaeDecode, .pngEncode: timings.pngEncode, .store: timings.store, .total: timings.total,
        ]
        for (phase, value) in seconds { phases[phase]!.record(max(0, value)) }
        for step in timings.denoiseSteps { steps.record(max(0, step)) }
    }

    /// A slot's job starts (true) or ends (false); `ternflux_worker_busy` is the number running.
    public func setBusy(_ isBusy: Bool) {
        lock.lock()
        busyJobs = max(0, busyJobs + (isBusy ? 1 : -1))
        let running = busyJobs
        lock.unlock()
        busy.record(Double(running))
    }

    // MARK: Kafka

    /// A rebalance callback: the assignment changes incrementally (cooperative-sticky).
    public func rebalanced(_ event: RebalanceEvent) {
        rebalances.increment()
        var removed: [Gauge] = []
        lock.lock()
        switch event {
        case .assigned(let partitions):
            assigned.formUnion(partitions)
        case .revoked(let partitions, _):
            assigned.subtract(partitions)
            for p in partitions { if let g = lagGauges.removeValue(forKey: p) { removed.append(g) } }
        }
        let count = assigned.count
        lock.unlock()
        removed.forEach { $0.destroy() }
        assignedPartitions.record(count)
        if case .assigned = event { health.kafkaAssigned() }
    }

    /// A librdkafka statistics report: lag of the assigned partitions, and whether the group is joined.
    public func update(_ statistics: KafkaStatistics) {
        var stale: [Gauge] = []
        lock.lock()
        for (partition, gauge) in lagGauges where !assigned.contains(partition) {
            lagGauges[partition] = nil
            stale.append(gauge)
        }
        for partition in assigned {
            guard let lag = statistics.consumerLag[partition] else { continue }
            let gauge = lagGauges[partition] ?? Gauge(label: Name.consumerLag, dimensions: [
                ("topic", partition.topic), ("partition", String(partition.partition))], factory: factory)
            lagGauges[partition] = gauge
            gauge.record(lag)
        }
        lock.unlock()
        stale.forEach { $0.destroy() }
        health.kafkaGroupState(statistics.groupState)
        health.pollLoopTurned()
    }

    // MARK: Heartbeat

    public func heartbeatSucceeded(at date: Date = Date()) {
        lastHeartbeat.record(date.timeIntervalSince1970)
        health.postgresReachable()
    }

    // MARK: Exposition

    /// The Prometheus text exposition; gauges read at scrape time are refreshed first.
    public func exposition() -> [UInt8] {
        residentMemory.record(ProcessMemory.residentBytes())
        lock.lock()
        let folder = modelFolder
        lock.unlock()
        mappedModel.record(folder.map { ProcessMemory.mappedBytes(under: $0) } ?? 0)
        ready.record(health.isReady ? 1 : 0)
        return registry.emitToBuffer()
    }
}
