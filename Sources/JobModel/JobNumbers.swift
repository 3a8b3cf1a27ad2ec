/// Why a number as written (a JSON number's source text, a CSV cell) is not a value the field can hold:
/// "must be an integer, got 1.5", "must be an integer within 0...9223372036854775807, got 9223372036854775808".
public struct NumberProblem: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Reads numbers from their text exactly: an integer never goes through a Double (2^63 stays 2^63 and is
/// refused, it does not become 9.223372036854776e+18), and a number that does not fit is reported with the
/// range the field allows. The range checks themselves stay with `JobLimits.check…`, whose messages these
/// complement; only a value that cannot be represented at all is reported here.
extension JobLimits {
    public func readSeed(_ text: String) -> Result<Int64, NumberProblem> {
        Self.readInteger(text, within: seedRange)
    }

    public func readSide(_ text: String) -> Result<Int, NumberProblem> {
        Self.readInteger(text, within: Int64(sideRange.lowerBound)...Int64(sideRange.upperBound)).map { Int(clamping: $0) }
    }

    public func readSteps(_ text: String) -> Result<Int, NumberProblem> {
        Self.readInteger(text, within: Int64(stepsRange.lowerBound)...Int64(stepsRange.upperBound)).map { Int(clamping: $0) }
    }

    public func readAttempt(_ text: String) -> Result<Int, NumberProblem> {
        Self.readInteger(text, within: Int64(attemptRange.lowerBound)...Int64(attemptRange.upperBound)).map { Int(clamping: $0) }
    }

    public func readGuidance(_ text: String) -> Result<Double, NumberProblem> {
        Self.readNumber(text, within: guidanceRange)
    }

    public func readTrueCFGScale(_ text: String) -> Result<Double, NumberProblem> {
        Self.readNumber(text, within: trueCFGScaleRange)
    }

    public func readImages(_ text: String) -> Result<Int, NumberProblem> {
        Self.readInteger(text, within: Int64(imagesRange.lowerBound)...Int64(imagesRange.upperBound)).map { Int(clamping: $0) }
    }

    /// The integer `text` denotes exactly ("42", "-7", "4.0", "1e3"; a leading "+" is accepted for CSV cells).
    /// Fails for text that is not a decimal number, for a value with a fractional part, and for an integer
    /// outside Int64; `range` only names what the field allows in that last message.
    public static func readInteger(_ text: String, within range: ClosedRange<Int64>) -> Result<Int64, NumberProblem> {
        guard let d = DecimalText(text) else { return .failure(NumberProblem("must be an integer, got \(quoted(text))")) }
        switch d.integer {
        case .value(let v): return .success(v)
        case .fractional: return .failure(NumberProblem("must be an integer, got \(shown(text))"))
        case .outOfRange:
            return .failure(NumberProblem("must be an integer within \(range.lowerBound)...\(range.upperBound), got \(shown(text))"))
        }
    }

    /// The Double nearest to `text` (a decimal number; not "inf", "nan" or hex). Fails for other text and for
    /// a number too large to be finite (1e400); `range` only names what the field allows in that message.
    public static func readNumber(_ text: String, within range: ClosedRange<Double>) -> Result<Double, NumberProblem> {
        guard DecimalText(text) != nil else { return .failure(NumberProblem("must be a number, got \(quoted(text))")) }
        let body = text.hasPrefix("+") ? String(text.dropFirst()) : text
        guard let v = Double(body), v.isFinite else {
            return .failure(NumberProblem("must be a finite number within \(compact(range.lowerBound))...\(compact(range.upperBound)), got \(shown(text))"))
        }
        return .success(v)
    }

    /// 30.0 → "30", 0.5 → "0.5".
    static func compact(_ v: Double) -> String {
        if v.isFinite, v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return "\(v)"
    }

    /// Number text as a message shows it: verbatim, or cut short when it is long.
    static func shown(_ text: String) -> String {
        text.unicodeScalars.count > 40 ? String(String.UnicodeScalarView(text.unicodeScalars.prefix(40))) + "…" : text
    }

    static func quoted(_ text: String) -> String { "'\(shown(text))'" }
}

/// A decimal number's text split into sign, significant digits and a power of ten, to decide exactly whether
/// it is an integer and whether that integer fits Int64. Grammar: JSON's number (leading zeros allowed, as
/// CSV cells may have them), optionally with a leading "+".
struct DecimalText: Equatable {
    var negative: Bool
    /// The digits without leading zeros; empty for zero.
    var digits: [UInt8]
    /// value = digits × 10^exponent (saturated far beyond any Int64, so huge exponents cannot overflow).
    var exponent: Int

    enum Integer: Equatable { case value(Int64), fractional, outOfRange }

    init?(_ text: String) {
        var bytes = Array(text.utf8)[...]
        negative = false
        if let c = bytes.first, c == UInt8(ascii: "-") || c == UInt8(ascii: "+") {
            negative = c == UInt8(ascii: "-")
            bytes = bytes.dropFirst()
        }
        func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
        let intPart = bytes.prefix(while: isDigit)
        guard !intPart.isEmpty else { return nil }
        bytes = bytes.dropFirst(intPart.count)
        var fracPart: ArraySlice<UInt8> = []
        if bytes.first == UInt8(ascii: ".") {
            bytes = bytes.dropFirst()
            fracPart = bytes.prefix(while: isDigit)
            guard !fracPart.isEmpty else { return nil }
            bytes = bytes.dropFirst(fracPart.count)
        }
        var exp = 0
        if let e = bytes.first, e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            bytes = bytes.dropFirst()
            var expNegative = false
            if let s = bytes.first, s == UInt8(ascii: "+") || s == UInt8(ascii: "-") {
                expNegative = s == UInt8(ascii: "-")
                bytes = bytes.dropFirst()
            }
            let expDigits = bytes.prefix(while: isDigit)
            guard !expDigits.isEmpty else { return nil }
            bytes = bytes.dropFirst(expDigits.count)
            for c in expDigits { exp = min(exp * 10 + Int(c - 0x30), 1_000_000_000) }
            if expNegative { exp = -exp }
        }
        guard bytes.isEmpty else { return nil }
        var all = Array(intPart) + Array(fracPart)
        exponent = exp - fracPart.count
        if let firstNonZero = all.firstIndex(where: { $0 != 0x30 }) {
            all.removeFirst(firstNonZero)
            // Trailing zeros move into the exponent, so "4.0" and "1.50e1" are seen as the integers they are.
            while all.last == 0x30 { all.removeLast(); exponent += 1 }
        } else {
            all = []
            exponent = 0
        }
        digits = all
    }

    var integer: Integer {
        if digits.isEmpty { return .value(0) }
        if exponent < 0 { return .fractional }
        // Int64 has at most 19 digits.
        guard digits.count + exponent <= 19 else { return .outOfRange }
        var magnitude: UInt64 = 0
        for c in digits { magnitude = magnitude * 10 + UInt64(c - 0x30) }
        for _ in 0..<exponent {
            let (m, o) = magnitude.multipliedReportingOverflow(by: 10)
            if o { return .outOfRange }
            magnitude = m
        }
        if negative {
            if magnitude <= UInt64(Int64.max) { return .value(-Int64(magnitude)) }
            if magnitude == UInt64(Int64.max) + 1 { return .value(Int64.min) }
            return .outOfRange
        }
        return magnitude <= UInt64(Int64.max) ? .value(Int64(magnitude)) : .outOfRange
    }
}
