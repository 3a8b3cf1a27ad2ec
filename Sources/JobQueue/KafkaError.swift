import CRdKafka

/// A failure reported by librdkafka (or by our use of it). The text is librdkafka's own wording so
/// operators can search for it; `operation` says what we were doing when it happened.
public struct KafkaError: Error, CustomStringConvertible, Sendable, Equatable {
    /// librdkafka's error code (`rd_kafka_resp_err_t`), or nil for configuration errors.
    public var code: Int32?
    public var operation: String
    public var message: String

    public init(code: Int32?, operation: String, message: String) {
        self.code = code
        self.operation = operation
        self.message = message
    }

    package init(_ err: rd_kafka_resp_err_t, operation: String) {
        self.init(code: err.rawValue, operation: operation, message: String(cString: rd_kafka_err2str(err)))
    }

    /// Consumes an `rd_kafka_error_t` (it is destroyed here).
    init(takingError error: OpaquePointer, operation: String) {
        let code = rd_kafka_error_code(error)
        let text = String(cString: rd_kafka_error_string(error))
        rd_kafka_error_destroy(error)
        self.init(code: code.rawValue, operation: operation, message: text)
    }

    public var description: String { "Kafka \(operation) failed: \(message)" }

    /// True for codes that mean "no such partition is assigned to us any more" — the usual
    /// outcome of storing an offset after a rebalance took the partition away.
    public var isNotAssigned: Bool {
        code == RD_KAFKA_RESP_ERR__STATE.rawValue || code == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION.rawValue
    }
}

/// A property that librdkafka refused: the message is librdkafka's, the property is named.
public struct KafkaConfigurationError: Error, CustomStringConvertible, Sendable, Equatable {
    public var property: String
    public var value: String
    public var message: String

    public var description: String { "Kafka property '\(property)' rejected: \(message)" }
}
