import Metrics
import Prometheus

/// A swift-metrics factory over a swift-prometheus registry that gives every metric the help text and
/// histogram buckets of the worker's metrics contract (docs/operations.md).
///
/// `PrometheusMetricsFactory` registers everything without help text, which `promtool check metrics`
/// rejects, and one set of buckets for all value histograms; the registry refuses a second
/// registration of a name with different help, so the help must come with the first one.
public struct ContractMetricsFactory: MetricsFactory {
    public struct Family: Sendable {
        public var help: String
        /// Bucket upper bounds for a histogram (a `Recorder` with `aggregate: true`).
        public var buckets: [Double]?

        public init(help: String, buckets: [Double]? = nil) {
            self.help = help
            self.buckets = buckets
        }
    }

    public let registry: PrometheusCollectorRegistry
    public let families: [String: Family]

    public init(registry: PrometheusCollectorRegistry, families: [String: Family]) {
        self.registry = registry
        self.families = families
    }

    /// The contract's entry for `label`; a name outside the contract is a programming error.
    private func family(_ label: String) -> Family {
        guard let family = families[label] else {
            preconditionFailure("metric '\(label)' is not part of the worker's metrics contract")
        }
        return family
    }

    /// The full name as the metric name (an empty unit adds no suffix) with the contract's help text.
    private func descriptor(_ label: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: label, unitName: "", helpText: family(label).help)
    }

    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard aggregate else { return registry.makeGauge(descriptor: descriptor(label), labels: dimensions) }
        guard let buckets = family(label).buckets else {
            preconditionFailure("metric '\(label)' is a histogram in code but has no buckets in the contract")
        }
        return registry.makeValueHistogram(descriptor: descriptor(label), labels: dimensions, buckets: buckets)
    }

    public func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        registry.makeGauge(descriptor: descriptor(label), labels: dimensions)
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        let buckets = (family(label).buckets ?? []).map { Duration.nanoseconds(Int64(($0 * 1e9).rounded())) }
        return registry.makeDurationHistogram(descriptor: descriptor(label), labels: dimensions, buckets: buckets)
    }

    public func destroyCounter(_ handler: any CounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    public func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    public func destroyRecorder(_ handler: any RecorderHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
        if let histogram = handler as? ValueHistogram { registry.unregisterValueHistogram(histogram) }
    }

    public func destroyMeter(_ handler: any MeterHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
    }

    public func destroyTimer(_ handler: any TimerHandler) {
        if let histogram = handler as? DurationHistogram { registry.unregisterDurationHistogram(histogram) }
    }
}
