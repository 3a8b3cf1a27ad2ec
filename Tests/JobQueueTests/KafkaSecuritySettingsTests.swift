import CRdKafka
import Foundation
import JobModel
import XCTest
@testable import JobQueue

/// TLS and SASL settings reach librdkafka unchanged, secrets can come from a file, and what is printed is redacted.
final class KafkaSecuritySettingsTests: XCTestCase {
    static let tlsAndSASL: [String: String] = [
        "security.protocol": "SASL_SSL", "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": "ternflux-worker", "sasl.password": "s3cret-pw",
        "ssl.ca.location": "/etc/ternflux/kafka-ca.pem", "ssl.endpoint.identification.algorithm": "https",
    ]

    private func temporaryFile(_ contents: String) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ternflux-kafka-\(UUID().uuidString).properties")
        try Data(contents.utf8).write(to: url)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url.path
    }

    /// The value librdkafka holds for `key` in a configuration built the way the clients build theirs.
    private func librdkafkaValue(_ conf: OpaquePointer, _ key: String) -> String? {
        var size = 0
        guard rd_kafka_conf_get(conf, key, nil, &size) == RD_KAFKA_CONF_OK else { return nil }
        var buffer = [CChar](repeating: 0, count: size)
        guard rd_kafka_conf_get(conf, key, &buffer, &size) == RD_KAFKA_CONF_OK else { return nil }
        return String(cString: buffer)
    }

    func testTLSAndSASLPropertiesReachTheProducerAndConsumerConfiguration() throws {
        let settings = KafkaSettings(brokers: "kafka-1:9093", properties: Self.tlsAndSASL)
        let producerConf = try KafkaProducerConfiguration(settings: settings).clientConfiguration().makeConf()
        defer { rd_kafka_conf_destroy(producerConf) }
        let consumerConf = try KafkaConsumerConfiguration(settings: settings, groupID: "g").clientConfiguration().makeConf()
        defer { rd_kafka_conf_destroy(consumerConf) }
        for conf in [producerConf, consumerConf] {
            for (key, value) in Self.tlsAndSASL {
                // librdkafka reads enumerated values (security.protocol) back in lower case.
                XCTAssertEqual(librdkafkaValue(conf, key)?.lowercased(), value.lowercased(), key)
            }
            XCTAssertEqual(librdkafkaValue(conf, "sasl.password"), "s3cret-pw")
            XCTAssertEqual(librdkafkaValue(conf, "bootstrap.servers"), "kafka-1:9093")
        }
        // The guarantees the worker relies on still win over a pass-through property.
        let unsafe = KafkaSettings(brokers: "k:1", properties: ["enable.idempotence": "false", "acks": "1"])
        let conf = try KafkaProducerConfiguration(settings: unsafe).clientConfiguration().makeConf()
        defer { rd_kafka_conf_destroy(conf) }
        XCTAssertEqual(librdkafkaValue(conf, "enable.idempotence"), "true")
    }

    func testPropertiesFileWithCommentsAndFlagsOnTop() throws {
        let file = try temporaryFile("""
            # TLS + SASL for the production cluster
            security.protocol = SASL_SSL
            ! also a comment
            sasl.mechanisms=SCRAM-SHA-512
            sasl.username=ternflux-worker
            sasl.password=s3cret=with=equals\r
            ssl.ca.location=/etc/ternflux/kafka-ca.pem

            """)
        let fromFile = try KafkaSettings.loadPropertiesFile(file)
        XCTAssertEqual(fromFile, ["security.protocol": "SASL_SSL", "sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": "ternflux-worker",
                                  "sasl.password": "s3cret=with=equals", "ssl.ca.location": "/etc/ternflux/kafka-ca.pem"])
        let merged = try KafkaSettings.resolveProperties(file: file, entries: ["sasl.username=other", "linger.ms=10"], environment: [:])
        XCTAssertEqual(merged["sasl.username"], "other", "a flag wins over the file")
        XCTAssertEqual(merged["linger.ms"], "10")
        XCTAssertEqual(merged["sasl.password"], "s3cret=with=equals")
        XCTAssertEqual(try KafkaSettings.resolveProperties(file: nil, entries: [], environment: ["TERNFLUX_KAFKA_PROPERTIES_FILE": file]), fromFile)
        XCTAssertEqual(try KafkaSettings.resolveProperties(file: nil, entries: ["a=b"], environment: [:]), ["a": "b"])
    }

    func testBadPropertiesFilesNameFileAndLineButNeverTheSecret() throws {
        let file = try temporaryFile("security.protocol=SASL_SSL\nhunter2-without-a-key\n")
        XCTAssertThrowsError(try KafkaSettings.loadPropertiesFile(file)) { error in
            XCTAssertEqual("\(error)", "\(file), line 2: not of the form key=value")
        }
        let noKey = try temporaryFile("=hunter2\n")
        XCTAssertThrowsError(try KafkaSettings.loadPropertiesFile(noKey)) { error in
            XCTAssertFalse("\(error)".contains("hunter2"), "\(error)")
        }
        XCTAssertThrowsError(try KafkaSettings.resolveProperties(file: "/nonexistent/kafka.properties", entries: [], environment: [:])) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent/kafka.properties"), "\(error)")
        }
        XCTAssertThrowsError(try KafkaSettings.parseProperties(["=hunter2"])) { error in
            XCTAssertEqual("\(error)", "Kafka property '=…' is not of the form key=value")
        }
    }

    func testRedactedPropertiesHideSecretsOnly() {
        let settings = KafkaSettings(brokers: "k:1", properties: Self.tlsAndSASL.merging([
            "ssl.key.password": "kp", "ssl.key.pem": "-----BEGIN PRIVATE KEY-----", "sasl.oauthbearer.client.secret": "cs",
        ]) { $1 })
        let shown = settings.redactedProperties
        for key in ["sasl.password", "ssl.key.password", "ssl.key.pem", "sasl.oauthbearer.client.secret"] {
            XCTAssertEqual(shown[key], "***", key)
        }
        XCTAssertEqual(shown["sasl.username"], "ternflux-worker")
        XCTAssertEqual(shown["security.protocol"], "SASL_SSL")
        XCTAssertEqual(shown["ssl.ca.location"], "/etc/ternflux/kafka-ca.pem")
    }
}
