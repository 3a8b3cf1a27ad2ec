import Foundation

/// `--since`: an ISO 8601 time (`2026-11-24T22:00:00Z`, with fractional seconds or a `±HH:MM` offset), a date
/// (`2026-11-24`, midnight UTC), or an age (`30m`, `2h`, `7d`, `90s`: digits and one unit). Parsed by hand so
/// that what the calendar does not have (`2026-02-30`, `+25:00`) and what is not a plain number (`1e3h`, `infh`)
/// is refused, and the result always lies within `range`.
enum SinceParser {
    struct Failure: Error, CustomStringConvertible { let description: String }

    /// From the Unix epoch to the end of year 9999: what the job store's times can be compared with.
    static let range = Date(timeIntervalSince1970: 0)...Date(timeIntervalSince1970: 253_402_300_799)
    static let usage = "expected an ISO 8601 time such as 2026-11-24T22:00:00Z, a date such as 2026-11-24, or an age "
        + "such as 90s, 30m, 2h, 7d"

    static func parse(_ text: String, now: Date) throws -> Date {
        let date = try age(text, now: now) ?? time(text)
        guard range.contains(date) else {
            throw Failure(description: "must lie between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59Z")
        }
        return date
    }

    /// `now` less an age, or nil when `text` does not end in a unit.
    static func age(_ text: String, now: Date) throws -> Date? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3_600, "d": 86_400]
        guard let unit = text.last, let scale = units[unit] else { return nil }
        let digits = text.dropLast()
        guard !digits.isEmpty, digits.count <= 12, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let amount = Double(digits) else {
            throw Failure(description: "an age is a whole number of s, m, h or d (\(usage))")
        }
        let seconds = amount * scale
        guard seconds <= now.timeIntervalSince1970 else {
            throw Failure(description: "an age of \(text) reaches before 1970-01-01T00:00:00Z")
        }
        return now.addingTimeInterval(-seconds)
    }

    /// `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, every field checked against the calendar.
    static func time(_ text: String) throws -> Date {
        let b = Array(text.utf8)
        func bad(_ why: String) -> Failure { Failure(description: "\(why) (\(usage))") }
        func number(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= b.count, b[from..<(from + count)].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
            return b[from..<(from + count)].reduce(0) { $0 * 10 + Int($1 - 0x30) }
        }
        guard b.count >= 10, let year = number(0, 4), b[4] == UInt8(ascii: "-"), let month = number(5, 2),
              b[7] == UInt8(ascii: "-"), let day = number(8, 2) else { throw bad("not a time, a date or an age") }
        guard (1...12).contains(month) else { throw bad("month \(month) does not exist") }
        guard (1...daysIn(month: month, year: year)).contains(day) else {
            throw bad("\(String(text.prefix(10))) does not exist")
        }
        var components = DateComponents(timeZone: TimeZone(identifier: "UTC"), year: year, month: month, day: day)
        var offsetSeconds = 0
        if b.count > 10 {
            guard b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t"), let hour = number(11, 2), b.count > 13,
                  b[13] == UInt8(ascii: ":"), let minute = number(14, 2), b.count > 16, b[16] == UInt8(ascii: ":"),
                  let second = number(17, 2) else { throw bad("not a time") }
            guard hour <= 23, minute <= 59, second <= 59 else { throw bad("\(hour):\(minute):\(second) is not a time of day") }
            (components.hour, components.minute, components.second) = (hour, minute, second)
            var i = 19
            var nanos = 0
            if i < b.count, b[i] == UInt8(ascii: ".") {
                var digits = 0
                i += 1
                while i < b.count, b[i] >= 0x30, b[i] <= 0x39 {
                    if digits < 9 { nanos = nanos * 10 + Int(b[i] - 0x30); digits += 1 }
                    i += 1
                }
                guard digits > 0 else { throw bad("a fraction of a second needs digits") }
                for _ in digits..<9 { nanos *= 10 }
            }
            components.nanosecond = nanos
            guard i < b.count else { throw bad("a time needs its zone: Z or ±HH:MM") }
            if b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") {
                guard i + 1 == b.count else { throw bad("unexpected text after the zone") }
            } else if b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
                guard i + 6 == b.count, let oh = number(i + 1, 2), b[i + 3] == UInt8(ascii: ":"), let om = number(i + 4, 2) else {
                    throw bad("a zone offset is ±HH:MM")
                }
                guard oh <= 14, om <= 59 else { throw bad("zone offset \(String(text.suffix(6))) does not exist (at most ±14:00)") }
                offsetSeconds = (oh * 3_600 + om * 60) * (b[i] == UInt8(ascii: "-") ? -1 : 1)
            } else {
                throw bad("a time needs its zone: Z or ±HH:MM")
            }
        }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        guard let local = calendar.date(from: components) else { throw bad("not a time") }
        return local.addingTimeInterval(TimeInterval(-offsetSeconds))
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }
}
