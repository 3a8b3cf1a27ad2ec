import Foundation

/// Where the job topics live and how to reach them: bootstrap servers (flag, else
/// `TERNFLUX_KAFKA_BROKERS`) and librdkafka properties passed through verbatim (TLS, SASL, tuning).
public struct KafkaSettings: Sendable, Equatable {
    public static let jobsTopic = "ternflux.jobs"
    public static let deadLetterTopic = "ternflux.jobs.dlq"

    public var brokers: String
    public var properties: [String: String]

    public init(brokers: String, properties: [String: String] = [:]) {
        self.brokers = brokers
        self.properties = properties
    }

    /// Resolves the broker list: an explicit value wins, then the environment.
    public static func resolveBrokers(_ explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let explicit, !explicit.isEmpty { return explicit }
        if let env = environment["TERNFLUX_KAFKA_BROKERS"], !env.isEmpty { return env }
        return nil
    }

    /// Parses `key=value` pass-through properties; the error names the malformed entry.
    public static func parseProperties(_ entries: [String]) throws -> [String: String] {
        var result: [String: String] = [:]
        for entry in entries {
            guard let eq = entry.firstIndex(of: "="), eq != entry.startIndex else {
                throw KafkaSettingsError.malformedProperty(entry)
            }
            result[String(entry[..<eq])] = String(entry[entry.index(after: eq)...])
        }
        return result
    }
}

public enum KafkaSettingsError: Error, CustomStringConvertible, Equatable {
    case malformedProperty(String)

    public var description: String {
        switch self {
        case .malformedProperty(let entry):
            return "Kafka property '\(entry)' is not of the form key=value"
        }
    }
}
