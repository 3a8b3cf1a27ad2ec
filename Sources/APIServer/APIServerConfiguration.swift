import Foundation
import JobQueue
import JobStore

/// Everything `ternflux serve` is started with.
public struct APIServerConfiguration: Sendable {
    public var host: String
    /// 0: any free port (the one bound is logged and returned by `APIServer.listeningPort`).
    public var port: Int
    /// The image root the workers write to (`--output`): images are served from `ROOT/BATCH/JOB.png` only.
    public var outputRoot: URL
    /// Empty: no authentication, and then only a loopback `host` is accepted.
    public var tokens: APITokens
    public var database: DatabaseSettings
    public var kafka: KafkaSettings
    /// Largest request body read (413 beyond).
    public var maxBodyBytes: Int
    /// PostgreSQL connections (and threads) for reads and cancels; and for submits, which may wait on Kafka.
    public var readConnections: Int
    public var submitConnections: Int
    /// A client connection with nothing to read or write for this long is closed (slow and idle clients).
    public var idleTimeoutSeconds: Double
    /// Client connections open at once; past it the server accepts no more until one closes (the rest wait
    /// in the listen backlog), so clients cannot use up the process's descriptors.
    public var maxClientConnections: Int

    public static let defaultMaxBodyBytes = 64 << 20

    public init(host: String = "127.0.0.1", port: Int = 8080, outputRoot: URL, tokens: APITokens = .none, database: DatabaseSettings,
                kafka: KafkaSettings, maxBodyBytes: Int = defaultMaxBodyBytes, readConnections: Int = 4, submitConnections: Int = 2,
                idleTimeoutSeconds: Double = 60, maxClientConnections: Int = 512) {
        self.host = host
        self.port = port
        self.outputRoot = outputRoot
        self.tokens = tokens
        self.database = database
        self.kafka = kafka
        self.maxBodyBytes = maxBodyBytes
        self.readConnections = readConnections
        self.submitConnections = submitConnections
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.maxClientConnections = maxClientConnections
    }

    /// Why the server must not start with this configuration, or nil.
    public func problem() -> APIServerConfigurationError? {
        if tokens.isEmpty && !Self.isLoopback(host) { return .notLoopbackWithoutTokens(host) }
        if !(0...65_535).contains(port) { return .badPort(port) }
        if maxBodyBytes < 1 { return .badLimit("--max-body-bytes must be at least 1") }
        if readConnections < 1 || submitConnections < 1 { return .badLimit("each connection pool needs at least 1 connection") }
        if !(idleTimeoutSeconds > 0 && idleTimeoutSeconds <= 86_400) { return .badLimit("--idle-timeout must be above 0 and at most 86400 seconds") }
        if maxClientConnections < 1 { return .badLimit("--max-connections must be at least 1") }
        return nil
    }

    /// Whether `host` names only this machine: `localhost`, an IPv4 address in 127.0.0.0/8 or IPv6 `::1`. A
    /// host name other than `localhost` is not looked up: it may resolve elsewhere.
    public static func isLoopback(_ host: String) -> Bool {
        let name = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        if name.lowercased() == "localhost" { return true }
        var v4 = in_addr()
        if inet_pton(AF_INET, name, &v4) == 1 { return UInt32(bigEndian: v4.s_addr) >> 24 == 127 }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, name, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { bytes in bytes.prefix(15).allSatisfy { $0 == 0 } && bytes[15] == 1 }
        }
        return false
    }
}

public enum APIServerConfigurationError: Error, CustomStringConvertible, Equatable {
    case notLoopbackWithoutTokens(String)
    case badPort(Int)
    case badLimit(String)

    public var description: String {
        switch self {
        case .notLoopbackWithoutTokens(let host):
            return "refusing to listen on \(host) without tokens: with no --tokens-file (or TERNFLUX_API_TOKENS_FILE) the API has no "
                + "authentication, so it only listens on loopback (127.0.0.1, ::1, localhost); give a tokens file to listen elsewhere"
        case .badPort(let port): return "--port must be within 0...65535 (0: any free port), got \(port)"
        case .badLimit(let message): return message
        }
    }
}
