import Foundation

/// The one JSON form of the reports (`BatchProgress`, `JobHistoryEntry`, …) that `ternflux status --json`,
/// `ternflux history --json` and the HTTP API print: keys sorted, slashes unescaped, dates as ISO 8601 in
/// UTC with fractional seconds.
public enum ReportJSON {
    public static func encoder(pretty: Bool = false) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(timestamp(date))
        }
        return encoder
    }

    /// "2024-05-01T12:00:00.123Z".
    public static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}
