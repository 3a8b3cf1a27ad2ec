import Foundation

/// A Swift value sent to PostgreSQL as a text-format parameter (or COPY field). The server parses the
/// text for the parameter's type, so nothing is ever spliced into SQL.
public protocol PostgresEncodable {
    var postgresText: String { get }
}

/// A Swift value read from a text-format result column. Returns nil when the text is not a valid value.
public protocol PostgresDecodable {
    static var postgresTypeName: String { get }
    init?(postgresText: String)
}

extension String: PostgresEncodable, PostgresDecodable {
    public var postgresText: String { self }
    public static var postgresTypeName: String { "text" }
    public init?(postgresText: String) { self = postgresText }
}

extension Int: PostgresEncodable, PostgresDecodable {
    public var postgresText: String { String(self) }
    public static var postgresTypeName: String { "integer" }
    public init?(postgresText: String) { self.init(postgresText) }
}

extension Int32: PostgresEncodable, PostgresDecodable {
    public var postgresText: String { String(self) }
    public static var postgresTypeName: String { "integer" }
    public init?(postgresText: String) { self.init(postgresText) }
}

extension Int64: PostgresEncodable, PostgresDecodable {
    public var postgresText: String { String(self) }
    public static var postgresTypeName: String { "bigint" }
    public init?(postgresText: String) { self.init(postgresText) }
}

extension Double: PostgresEncodable, PostgresDecodable {
    /// Swift's shortest round-trip form; PostgreSQL spells the specials Infinity, -Infinity and NaN.
    public var postgresText: String {
        if isNaN { return "NaN" }
        if isInfinite { return self < 0 ? "-Infinity" : "Infinity" }
        return description
    }
    public static var postgresTypeName: String { "double precision" }
    public init?(postgresText: String) {
        switch postgresText {
        case "NaN": self = .nan
        case "Infinity": self = .infinity
        case "-Infinity": self = -.infinity
        default:
            guard let value = Double(postgresText) else { return nil }
            self = value
        }
    }
}

extension Bool: PostgresEncodable, PostgresDecodable {
    public var postgresText: String { self ? "t" : "f" }
    public static var postgresTypeName: String { "boolean" }
    public init?(postgresText: String) {
        switch postgresText {
        case "t": self = true
        case "f": self = false
        default: return nil
        }
    }
}

extension UUID: PostgresEncodable, PostgresDecodable {
    /// Lower-case hex with dashes, formatted directly (no upper-case string and lowercasing pass).
    public var postgresText: String {
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        return withUnsafeBytes(of: uuid) { bytes in
            String(unsafeUninitializedCapacity: 36) { out in
                var o = 0
                for (i, byte) in bytes.enumerated() {
                    if i == 4 || i == 6 || i == 8 || i == 10 { out[o] = UInt8(ascii: "-"); o += 1 }
                    out[o] = hex[Int(byte >> 4)]
                    out[o + 1] = hex[Int(byte & 0x0f)]
                    o += 2
                }
                return o
            }
        }
    }
    public static var postgresTypeName: String { "uuid" }
    public init?(postgresText: String) { self.init(uuidString: postgresText) }
}

extension Date: PostgresEncodable, PostgresDecodable {
    /// `timestamptz` in ISO form with microseconds, always UTC.
    public var postgresText: String { PostgresTimestamp.format(self) }
    public static var postgresTypeName: String { "timestamptz" }
    /// Reads the ISO output style (`2026-11-24 22:54:07.123456+00`), which every connection selects.
    public init?(postgresText: String) {
        guard let date = PostgresTimestamp.parse(postgresText) else { return nil }
        self = date
    }
}

extension Array: PostgresEncodable where Element: PostgresEncodable {
    /// An array literal with every element quoted, which PostgreSQL accepts for any element type.
    public var postgresText: String {
        "{" + map { element in
            var text = element.postgresText
            if text.utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\"") }) {
                text = text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            }
            return "\"" + text + "\""
        }.joined(separator: ",") + "}"
    }
}

extension Array: PostgresDecodable where Element: PostgresDecodable {
    public static var postgresTypeName: String { Element.postgresTypeName + "[]" }
    /// One-dimensional array literals; NULL elements are not representable and make the value invalid.
    public init?(postgresText: String) {
        guard let items = PostgresArrayLiteral.parse(postgresText) else { return nil }
        var result: [Element] = []
        result.reserveCapacity(items.count)
        for item in items {
            guard let text = item, let value = Element(postgresText: text) else { return nil }
            result.append(value)
        }
        self = result
    }
}

/// JSON sent or read as text (`json` / `jsonb` columns); the server validates it.
public struct PostgresJSON: PostgresEncodable, PostgresDecodable, Equatable, Sendable {
    public var text: String
    public init(_ text: String) { self.text = text }
    public var postgresText: String { text }
    public static var postgresTypeName: String { "jsonb" }
    public init?(postgresText: String) { self.text = postgresText }

    /// Decodes the JSON into a Codable type.
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(text.utf8))
    }
}

enum PostgresArrayLiteral {
    /// Parses `{a,"b c",NULL}` into its elements (nil for NULL). Nested arrays are rejected.
    static func parse(_ text: String) -> [String?]? {
        let chars = Array(text.unicodeScalars)
        guard chars.first == "{", chars.last == "}" else { return nil }
        var items: [String?] = []
        var i = 1
        let end = chars.count - 1
        if end == 1 { return [] }
        while i <= end {
            var value = String.UnicodeScalarView()
            var quoted = false
            if i < end, chars[i] == "\"" {
                quoted = true
                i += 1
                while i < end, chars[i] != "\"" {
                    if chars[i] == "\\" { i += 1; guard i < end else { return nil } }
                    value.append(chars[i])
                    i += 1
                }
                guard i < end else { return nil }
                i += 1
            } else {
                while i < end, chars[i] != "," {
                    if chars[i] == "{" || chars[i] == "\"" { return nil }
                    value.append(chars[i])
                    i += 1
                }
            }
            let string = String(value)
            items.append(!quoted && string == "NULL" ? nil : string)
            guard i == end || chars[i] == "," else { return nil }
            i += 1
        }
        return items
    }
}

enum PostgresTimestamp {
    /// PostgreSQL's text form of `date` for years 1 to 9999; `-infinity` / `infinity` before and after, so no
    /// date, however far, traps the conversion or reaches the server in a form it refuses.
    static func format(_ date: Date) -> String {
        let epochSeconds = date.timeIntervalSince1970
        if epochSeconds.isNaN || epochSeconds < -62_135_596_800 { return "-infinity" }    // before 0001-01-01T00:00:00Z
        if epochSeconds >= 253_402_300_800 { return "infinity" }                         // from 10000-01-01T00:00:00Z on
        let total = Int64((epochSeconds * 1_000_000).rounded())
        var seconds = total / 1_000_000
        var fraction = total % 1_000_000
        if fraction < 0 { fraction += 1_000_000; seconds -= 1 }
        var days = seconds / 86_400
        var secondOfDay = seconds % 86_400
        if secondOfDay < 0 { secondOfDay += 86_400; days -= 1 }
        let (y, m, d) = civil(fromDays: days)
        func pad(_ v: Int64, _ w: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, w - s.count)) + s }
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2)) \(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2)).\(pad(fraction, 6))+00"
    }

    static func parse(_ text: String) -> Date? {
        if text == "infinity" { return .distantFuture }
        if text == "-infinity" { return .distantPast }
        let b = Array(text.utf8)
        func num(_ from: Int, _ count: Int) -> Int64? {
            guard from + count <= b.count else { return nil }
            var v: Int64 = 0
            for k in from..<(from + count) {
                guard b[k] >= 48, b[k] <= 57 else { return nil }
                v = v * 10 + Int64(b[k] - 48)
            }
            return v
        }
        guard b.count >= 19, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"),
              b[10] == UInt8(ascii: " ") || b[10] == UInt8(ascii: "T"), b[13] == UInt8(ascii: ":"), b[16] == UInt8(ascii: ":"),
              let y = num(0, 4), let mo = num(5, 2), let d = num(8, 2), let h = num(11, 2), let mi = num(14, 2), let s = num(17, 2),
              (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, s < 61 else { return nil }
        var i = 19
        var fraction = 0.0
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            var scale = 0.1
            let start = i
            while i < b.count, b[i] >= 48, b[i] <= 57 { fraction += Double(b[i] - 48) * scale; scale /= 10; i += 1 }
            guard i > start else { return nil }
        }
        var offset: Int64 = 0
        if i < b.count {
            guard b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-"), let oh = num(i + 1, 2) else { return nil }
            let sign: Int64 = b[i] == UInt8(ascii: "+") ? 1 : -1
            var j = i + 3
            var om: Int64 = 0, os: Int64 = 0
            if j < b.count, b[j] == UInt8(ascii: ":") { guard let v = num(j + 1, 2) else { return nil }; om = v; j += 3 }
            if j < b.count, b[j] == UInt8(ascii: ":") { guard let v = num(j + 1, 2) else { return nil }; os = v; j += 3 }
            guard j == b.count else { return nil }
            offset = sign * (oh * 3600 + om * 60 + os)
        }
        let days = days(fromCivil: y, mo, d)
        let seconds = days * 86_400 + h * 3600 + mi * 60 + s - offset
        return Date(timeIntervalSince1970: Double(seconds) + fraction)
    }

    // Howard Hinnant's civil-calendar algorithms (proleptic Gregorian, days since 1970-01-01).
    static func days(fromCivil y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civil(fromDays z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}
