import CRdKafka

/// Builds an `rd_kafka_conf_t` from property layers applied in order, so a later layer wins.
///
/// Layers are: our defaults, the operator's pass-through properties (TLS, SASL, tuning), then the
/// settings the delivery guarantees depend on (idempotence, manual offset store), which an
/// operator must not be able to switch off by accident.
package struct KafkaClientConfiguration {
    private(set) var entries: [(String, String)] = []

    package init() {}

    package mutating func set(_ key: String, _ value: String) { entries.append((key, value)) }

    mutating func set(_ properties: [String: String]) {
        for key in properties.keys.sorted() { entries.append((key, properties[key]!)) }
    }

    /// Creates the librdkafka configuration; the caller owns the result (rd_kafka_new takes it).
    package func makeConf() throws -> OpaquePointer {
        guard let conf = rd_kafka_conf_new() else {
            throw KafkaConfigurationError(property: "-", value: "-", message: "rd_kafka_conf_new returned NULL")
        }
        var errstr = [CChar](repeating: 0, count: 512)
        for (key, value) in entries {
            let result = rd_kafka_conf_set(conf, key, value, &errstr, errstr.count)
            if result != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                throw KafkaConfigurationError(property: key, value: value, message: String(cString: errstr))
            }
        }
        return conf
    }

    /// Checks every property, then the combination, by creating (and at once destroying) a
    /// client that connects nowhere: some checks (SASL mechanism, TLS files) only happen in
    /// rd_kafka_new. Used to reject a bad `--kafka-property` at start-up with librdkafka's message.
    static func validate(_ properties: [String: String]) throws {
        var config = KafkaClientConfiguration()
        config.set(properties)
        config.set("log_level", "3")
        let conf = try config.makeConf()
        let handle = try makeKafkaHandle(type: RD_KAFKA_PRODUCER, conf: conf, role: "client with these properties")
        rd_kafka_destroy(handle)
    }
}

/// Creates a client handle, turning librdkafka's error text into a thrown error.
package func makeKafkaHandle(type: rd_kafka_type_t, conf: OpaquePointer, role: String) throws -> OpaquePointer {
    var errstr = [CChar](repeating: 0, count: 512)
    guard let handle = rd_kafka_new(type, conf, &errstr, errstr.count) else {
        // On failure rd_kafka_new leaves the conf with the caller.
        rd_kafka_conf_destroy(conf)
        throw KafkaError(code: nil, operation: "creating the \(role)", message: String(cString: errstr))
    }
    return handle
}
