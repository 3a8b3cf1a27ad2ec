import Foundation

/// The one JSON form of the job store's documents (`status --json`, `history --json`, webhook bodies, the API):
/// keys sorted, times as ISO 8601 UTC with fractional seconds, slashes unescaped.
public enum JobDocumentEncoder {
    public static func make(pretty: Bool = false) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(time(date))
        }
        return encoder
    }

    /// `2026-12-03T13:44:36.529Z`.
    public static func time(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}
