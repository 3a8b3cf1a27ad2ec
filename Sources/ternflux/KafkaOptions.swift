import ArgumentParser
import JobQueue

/// Where the Kafka cluster is: `--brokers` or TERNFLUX_KAFKA_BROKERS, plus librdkafka properties passed
/// through verbatim (TLS, SASL, tuning): from `--kafka-properties-file` (or TERNFLUX_KAFKA_PROPERTIES_FILE),
/// then `--kafka-property key=value` on top. Secrets belong in the file: argv is visible in `ps`.
struct KafkaOptions: ParsableArguments {
    @Option(name: .customLong("brokers"), help: "Kafka bootstrap servers (default: $TERNFLUX_KAFKA_BROKERS).")
    var brokers: String?

    @Option(name: .customLong("kafka-property"), help: ArgumentHelp(
        "librdkafka property passed through, key=value (repeatable; visible in `ps`, so no secrets).", valueName: "key=value"))
    var kafkaProperties: [String] = []

    @Option(name: .customLong("kafka-properties-file"), help: ArgumentHelp(
        "File of librdkafka properties, one key=value per line, # comments (default: $TERNFLUX_KAFKA_PROPERTIES_FILE).",
        valueName: "path"))
    var kafkaPropertiesFile: String?

    func settings() throws -> KafkaSettings {
        guard let brokers = KafkaSettings.resolveBrokers(brokers) else {
            throw ValidationError("no Kafka brokers: pass --brokers HOST:PORT or set TERNFLUX_KAFKA_BROKERS (for one machine: `ternflux dev-broker`)")
        }
        let settings = KafkaSettings(brokers: brokers, properties: try resolvedProperties())
        // The combination (SASL mechanism, TLS files) is only checked by librdkafka when a client is created.
        do { try settings.validateProperties() } catch { throw ValidationError("\(error)") }
        return settings
    }

    func resolvedProperties() throws -> [String: String] {
        let properties: [String: String]
        do {
            properties = try KafkaSettings.resolveProperties(file: kafkaPropertiesFile, entries: kafkaProperties)
        } catch {
            throw ValidationError("\(error)")
        }
        let exposed = (try? KafkaSettings.parseProperties(kafkaProperties))?.keys.filter(KafkaSettings.isSensitive).sorted() ?? []
        if !exposed.isEmpty {
            warnOnStandardError("--kafka-property \(exposed.joined(separator: ", ")) is a secret that `ps` shows to every user of "
                + "this machine; put it in --kafka-properties-file instead")
        }
        return properties
    }
}
