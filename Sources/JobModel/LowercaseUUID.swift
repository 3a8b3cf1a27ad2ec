import Foundation

/// A UUID that encodes as lower-case text. Foundation writes `uuidString` in upper case, while TernFlux
/// writes ids in lower case everywhere else (paths, Kafka keys, text output, PostgreSQL's `uuid::text`),
/// so `--json` documents and the API would otherwise spell the same id two ways.
@propertyWrapper
public struct LowercaseUUID: Codable, Sendable, Hashable {
    public var wrappedValue: UUID

    public init(wrappedValue: UUID) { self.wrappedValue = wrappedValue }

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let id = UUID(uuidString: text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "'\(text)' is not a UUID")
        }
        wrappedValue = id
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(wrappedValue.uuidString.lowercased())
    }
}
