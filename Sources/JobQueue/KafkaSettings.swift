import Foundation

/// Where the job topics live and how to reach them: bootstrap servers (flag, else
/// `TERNFLUX_KAFKA_BROKERS`) and librdkafka properties passed through verbatim (TLS, SASL, tuning), from a
/// properties file and `key=value` flags. Print `redactedProperties`, never `properties`.
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

    /// Reads pass-through properties from a file (Java `.properties` style, as Kafka's own tools take):
    /// one `key=value` per line, blank lines and lines starting with `#` or `!` ignored, whitespace around
    /// key and value dropped. Keeps TLS key passwords and SASL secrets out of argv; the error names file and line.
    public static func loadPropertiesFile(_ path: String) throws -> [String: String] {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw KafkaSettingsError.unreadablePropertiesFile(path: path, reason: (error as NSError).localizedDescription)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw KafkaSettingsError.unreadablePropertiesFile(path: path, reason: "not UTF-8 text")
        }
        var result: [String: String] = [:]
        for (index, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix("!") { continue }
            guard let eq = line.firstIndex(of: "="),
                  case let key = line[..<eq].trimmingCharacters(in: .whitespaces), !key.isEmpty else {
                throw KafkaSettingsError.malformedPropertyLine(path: path, line: index + 1)
            }
            result[key] = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
        }
        return result
    }

    /// The properties of a file (`--kafka-properties-file`, else `TERNFLUX_KAFKA_PROPERTIES_FILE`) with
    /// the `--kafka-property` entries on top (a flag wins over the file for the same key).
    public static func resolveProperties(file: String?, entries: [String],
                                         environment: [String: String] = ProcessInfo.processInfo.environment) throws -> [String: String] {
        var result: [String: String] = [:]
        if let path = (file?.isEmpty == false ? file : nil) ?? environment["TERNFLUX_KAFKA_PROPERTIES_FILE"], !path.isEmpty {
            result = try loadPropertiesFile(path)
        }
        result.merge(try parseProperties(entries)) { _, flag in flag }
        return result
    }

    /// librdkafka properties whose values are secrets (passwords, private keys, OAuth configuration).
    public static func isSensitive(_ key: String) -> Bool {
        let k = key.lowercased()
        return k.contains("password") || k.contains("secret") || k == "ssl.key.pem" || k == "ssl_key"
            || k.hasPrefix("sasl.oauthbearer.config") || k.contains("private")
    }

    /// Properties fit to print: sensitive values become `***`.
    public var redactedProperties: [String: String] {
        properties.reduce(into: [:]) { out, pair in out[pair.key] = Self.isSensitive(pair.key) ? "***" : pair.value }
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
    case unreadablePropertiesFile(path: String, reason: String)
    case malformedPropertyLine(path: String, line: Int)

    public var description: String {
        switch self {
        case .malformedProperty(let entry):
            // An entry without a key may still hold a secret after its '=': show only what precedes it.
            let shown = entry.contains("=") ? String(entry[..<entry.firstIndex(of: "=")!]) + "=…" : entry
            return "Kafka property '\(shown)' is not of the form key=value"
        case .unreadablePropertiesFile(let path, let reason):
            return "cannot read the Kafka properties file \(path): \(reason)"
        case .malformedPropertyLine(let path, let line):
            // The line is not quoted: it may be a secret with its key missing.
            return "\(path), line \(line): not of the form key=value"
        }
    }
}
