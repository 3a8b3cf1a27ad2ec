import ArgumentParser
import JobQueue

/// Where the Kafka cluster is: `--brokers` or TERNFLUX_KAFKA_BROKERS, plus librdkafka properties passed
/// through verbatim (`--kafka-property security.protocol=SASL_SSL`, TLS and SASL settings, tuning).
struct KafkaOptions: ParsableArguments {
    @Option(name: .customLong("brokers"), help: "Kafka bootstrap servers (default: $TERNFLUX_KAFKA_BROKERS).")
    var brokers: String?

    @Option(name: .customLong("kafka-property"), help: ArgumentHelp("librdkafka property passed through, key=value (repeatable).", valueName: "key=value"))
    var kafkaProperties: [String] = []

    func settings() throws -> KafkaSettings {
        guard let brokers = KafkaSettings.resolveBrokers(brokers) else {
            throw ValidationError("no Kafka brokers: pass --brokers HOST:PORT or set TERNFLUX_KAFKA_BROKERS (for one machine: `ternflux dev-broker`)")
        }
        do {
            return KafkaSettings(brokers: brokers, properties: try KafkaSettings.parseProperties(kafkaProperties))
        } catch {
            throw ValidationError("\(error)")
        }
    }
}
