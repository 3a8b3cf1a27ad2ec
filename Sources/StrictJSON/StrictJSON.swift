/// A small strict JSON parser for untrusted input: safetensors headers and index files, Kafka job records,
/// `ternflux submit`'s JSONL lines.
///
/// Foundation's JSONSerialization and JSONDecoder silently keep one of two equal keys, turn large integers
/// into doubles and fail on 1e400 with a type mismatch. This parser keeps object members in input order,
/// keeps numbers as their source text (the reader decides what a number may be), reports duplicate keys
/// (or keeps them all, for a caller that reports them itself), bounds nesting depth, never traps on any
/// input, and says where and what is wrong in plain words.
public enum StrictJSONValue: Equatable, Sendable {
    case object([(key: String, value: StrictJSONValue)])
    case array([StrictJSONValue])
    case string(String)
    /// The number's source text, which the JSON grammar has already checked ("-0", "1.5e3", "1e400").
    case number(String)
    case bool(Bool)
    case null

    public static func == (a: StrictJSONValue, b: StrictJSONValue) -> Bool {
        switch (a, b) {
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case let (.array(x), .array(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.bool(x), .bool(y)): return x == y
        case (.null, .null): return true
        default: return false
        }
    }

    /// "object", "array", "string", "number", "boolean" or "null".
    public var kindName: String {
        switch self {
        case .object: return "object"
        case .array: return "array"
        case .string: return "string"
        case .number: return "number"
        case .bool: return "boolean"
        case .null: return "null"
        }
    }

    /// The kind with its article, for messages ("expected a string, got an array"): "an object", "null".
    public var kindWithArticle: String {
        switch self {
        case .object: return "an object"
        case .array: return "an array"
        case .null: return "null"
        default: return "a \(kindName)"
        }
    }

    /// The value as a non-negative integer that fits in Int, or nil (fractions, exponents, signs, overflow).
    public var nonNegativeInt: Int? {
        guard case let .number(text) = self, !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            return nil
        }
        var value = 0
        for c in text.utf8 {
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(Int(c - 0x30))
            if o1 || o2 { return nil }
            value = s
        }
        return value
    }

    /// The members of an object (nil for any other value).
    public var members: [(key: String, value: StrictJSONValue)]? {
        if case let .object(m) = self { return m }
        return nil
    }

    /// The keys an object holds more than once, each once, in the order they first appear, with how often
    /// they appear (only objects parsed with `.keepAll` can have any). Empty for anything but an object.
    public var duplicateKeys: [(key: String, count: Int)] {
        guard case let .object(members) = self else { return [] }
        var counts: [String: Int] = [:]
        for m in members { counts[m.key, default: 0] += 1 }
        var out: [(key: String, count: Int)] = []
        var reported = Set<String>()
        for m in members where counts[m.key]! > 1 && reported.insert(m.key).inserted {
            out.append((m.key, counts[m.key]!))
        }
        return out
    }
}

/// Why an input is not (acceptable) JSON, and where: the byte offset, and the line and column (1-based;
/// the column counts Unicode scalars) of the offending character.
public struct StrictJSONError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: Equatable, Sendable { case syntax, duplicateKey(String), tooDeep }
    public let kind: Kind
    /// Byte offset of the offending character (of the key's opening quote for a duplicate key).
    public let offset: Int
    public let line: Int
    public let column: Int
    /// How many objects and arrays enclose the offending character (1 for a key of the top-level object).
    public let depth: Int
    /// What is wrong, without the position: "a raw control character U+0000 inside a string".
    public let message: String
    /// How to fix it, if there is a simple fix: "escape it as \u0000".
    public let hint: String?

    public init(kind: Kind, offset: Int, line: Int, column: Int, depth: Int, message: String, hint: String? = nil) {
        self.kind = kind
        self.offset = offset
        self.line = line
        self.column = column
        self.depth = depth
        self.message = message
        self.hint = hint
    }

    /// "line 3, column 7", or "column 7" for the first line (a JSONL line or a one-line record).
    public var position: String { line == 1 ? "column \(column)" : "line \(line), column \(column)" }

    /// The message, its position and the hint: "a raw control character U+0000 inside a string at column 17
    /// (escape it as \u0000)".
    public var description: String { "\(message) at \(position)" + (hint.map { " (\($0))" } ?? "") }
}

/// What the parser does with an object key it has already seen in the same object.
public enum StrictJSONDuplicateKeys: Sendable {
    /// Throw a `.duplicateKey` error at the second occurrence.
    case reject
    /// Keep every member (the object's member list then holds the key more than once): for a caller that
    /// reports duplicates itself, next to the other problems of the same input (`duplicateKeys`).
    case keepAll
}

public struct StrictJSONParser {
    public static let maxDepth = 64

    private let bytes: UnsafeRawBufferPointer
    private let duplicates: StrictJSONDuplicateKeys
    private var pos = 0

    private init(_ bytes: UnsafeRawBufferPointer, duplicates: StrictJSONDuplicateKeys) {
        self.bytes = bytes
        self.duplicates = duplicates
    }

    /// Parses one JSON value; whitespace around it is allowed, anything else after the value is an error.
    /// Throws `StrictJSONError`.
    public static func parse(_ bytes: UnsafeRawBufferPointer, duplicateKeys: StrictJSONDuplicateKeys = .reject) throws -> StrictJSONValue {
        var parser = StrictJSONParser(bytes, duplicates: duplicateKeys)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        if let c = parser.peek {
            throw parser.error("unexpected \(describe(c)) after the JSON value", depth: 0)
        }
        return value
    }

    public static func parse(_ bytes: [UInt8], duplicateKeys: StrictJSONDuplicateKeys = .reject) throws -> StrictJSONValue {
        try bytes.withUnsafeBytes { try parse($0, duplicateKeys: duplicateKeys) }
    }

    public static func parse<S: StringProtocol>(_ text: S, duplicateKeys: StrictJSONDuplicateKeys = .reject) throws -> StrictJSONValue {
        if let value = try text.utf8.withContiguousStorageIfAvailable({
            try parse(UnsafeRawBufferPointer($0), duplicateKeys: duplicateKeys)
        }) {
            return value
        }
        return try parse(Array(text.utf8), duplicateKeys: duplicateKeys)
    }

    // MARK: errors

    private func error(_ message: String, hint: String? = nil, _ kind: StrictJSONError.Kind = .syntax,
                       at offset: Int? = nil, depth: Int) -> StrictJSONError {
        let offset = min(offset ?? pos, bytes.count)
        // Line and column are only worked out for an error, so parsing valid input pays nothing for them.
        var line = 1, column = 1
        for i in 0..<offset {
            let b = bytes[i]
            if b == 0x0A { line += 1; column = 1 } else if b & 0xC0 != 0x80 { column += 1 }
        }
        return StrictJSONError(kind: kind, offset: offset, line: line, column: column, depth: depth, message: message, hint: hint)
    }

    /// A byte as a message names it: "character 'x'", "byte 0xFF", "control character U+0009".
    private static func describe(_ c: UInt8) -> String {
        switch c {
        case 0x27: return "character \"'\""
        case 0x21...0x7E: return "character '\(Character(Unicode.Scalar(c)))'"
        case 0x00..<0x20, 0x7F: return "control character \(uPlus(UInt32(c)))"
        default: return "byte 0x\(hex(UInt32(c), width: 2))"
        }
    }

    private static func hex(_ v: UInt32, width: Int) -> String {
        let digits = String(v, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    private static func uPlus(_ v: UInt32) -> String { "U+" + hex(v, width: 4) }

    /// The escape a raw control character in a string should be written as.
    private static func escape(for c: UInt8) -> String {
        switch c {
        case 0x0A: return "\\n"
        case 0x0D: return "\\r"
        case 0x09: return "\\t"
        default: return "\\u" + hex(UInt32(c), width: 4).lowercased()
        }
    }

    private var peek: UInt8? { pos < bytes.count ? bytes[pos] : nil }

    private mutating func skipWhitespace() {
        while pos < bytes.count {
            switch bytes[pos] {
            case 0x20, 0x09, 0x0A, 0x0D: pos += 1
            default: return
            }
        }
    }

    private mutating func expect(_ literal: String, depth: Int) throws {
        let start = pos
        for c in literal.utf8 {
            guard peek == c else { throw unexpectedWord(depth: depth) }
            pos += 1
        }
        // "nullx", "true1": a word that only starts like the literal.
        if let c = peek, Self.isWordByte(c) { pos = start; throw unexpectedWord(depth: depth) }
    }

    private static func isWordByte(_ c: UInt8) -> Bool {
        (0x30...0x39).contains(c) || (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c) || c == UInt8(ascii: "_")
    }

    /// For input such as `not json`, `tru` or `NaN` where a value should be: "unexpected 'not' where a value
    /// was expected", at the word's start (at most 20 characters of it are shown).
    private func unexpectedWord(depth: Int) -> StrictJSONError {
        var end = pos
        while end < bytes.count, Self.isWordByte(bytes[end]) { end += 1 }
        // `pos` may be inside the word (a literal that matched partly): find its start.
        var start = pos
        while start > 0, Self.isWordByte(bytes[start - 1]) { start -= 1 }
        if end == start {
            guard pos < bytes.count else { return error("the input ends where a value was expected", depth: depth) }
            return error("unexpected \(Self.describe(bytes[pos])) where a value was expected", depth: depth)
        }
        let word = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<min(end, start + 20)]), as: UTF8.self)
        return error("unexpected '\(word)\(end - start > 20 ? "…" : "")' where a value was expected", at: start, depth: depth)
    }

    // MARK: values

    private mutating func parseValue(depth: Int) throws -> StrictJSONValue {
        guard depth < Self.maxDepth else {
            throw error("JSON nested deeper than \(Self.maxDepth) levels", .tooDeep, depth: depth)
        }
        guard let c = peek else { throw error("the input ends where a value was expected", depth: depth) }
        switch c {
        case UInt8(ascii: "{"): return try parseObject(depth: depth)
        case UInt8(ascii: "["): return try parseArray(depth: depth)
        case UInt8(ascii: "\""): return .string(try parseString(depth: depth))
        case UInt8(ascii: "t"): try expect("true", depth: depth); return .bool(true)
        case UInt8(ascii: "f"): try expect("false", depth: depth); return .bool(false)
        case UInt8(ascii: "n"): try expect("null", depth: depth); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber(depth: depth))
        case UInt8(ascii: "'"):
            throw error("unexpected \(Self.describe(c)) where a value was expected", hint: "JSON strings use double quotes", depth: depth)
        default:
            if Self.isWordByte(c) { throw unexpectedWord(depth: depth) }
            throw error("unexpected \(Self.describe(c)) where a value was expected", depth: depth)
        }
    }

    private mutating func parseObject(depth: Int) throws -> StrictJSONValue {
        pos += 1
        let inner = depth + 1
        var members: [(key: String, value: StrictJSONValue)] = []
        var seen = Set<String>()
        skipWhitespace()
        if peek == UInt8(ascii: "}") { pos += 1; return .object(members) }
        while true {
            skipWhitespace()
            guard let q = peek else { throw error("the input ends inside an object", depth: inner) }
            guard q == UInt8(ascii: "\"") else {
                throw error("expected a key in double quotes, found \(Self.describe(q))",
                            hint: q == UInt8(ascii: "'") ? "JSON strings use double quotes" : nil, depth: inner)
            }
            let keyStart = pos
            let key = try parseString(depth: inner)
            if !seen.insert(key).inserted, duplicates == .reject {
                throw error("duplicate key \"\(key)\"", .duplicateKey(key), at: keyStart, depth: inner)
            }
            skipWhitespace()
            guard let colon = peek else { throw error("the input ends after the key \"\(key)\"", depth: inner) }
            guard colon == UInt8(ascii: ":") else {
                throw error("expected ':' after the key \"\(key)\", found \(Self.describe(colon))", depth: inner)
            }
            pos += 1
            skipWhitespace()
            members.append((key, try parseValue(depth: inner)))
            skipWhitespace()
            guard let c = peek else { throw error("the input ends inside an object (a '}' is missing)", depth: inner) }
            if c == UInt8(ascii: "}") { pos += 1; return .object(members) }
            guard c == UInt8(ascii: ",") else {
                throw error("expected ',' or '}' after the value of \"\(key)\", found \(Self.describe(c))", depth: inner)
            }
            pos += 1
            skipWhitespace()
            if peek == UInt8(ascii: "}") { throw error("a trailing comma before '}'", depth: inner) }
        }
    }

    private mutating func parseArray(depth: Int) throws -> StrictJSONValue {
        pos += 1
        let inner = depth + 1
        var items: [StrictJSONValue] = []
        skipWhitespace()
        if peek == UInt8(ascii: "]") { pos += 1; return .array(items) }
        while true {
            skipWhitespace()
            items.append(try parseValue(depth: inner))
            skipWhitespace()
            guard let c = peek else { throw error("the input ends inside an array (a ']' is missing)", depth: inner) }
            if c == UInt8(ascii: "]") { pos += 1; return .array(items) }
            guard c == UInt8(ascii: ",") else {
                throw error("expected ',' or ']' in an array, found \(Self.describe(c))", depth: inner)
            }
            pos += 1
            skipWhitespace()
            if peek == UInt8(ascii: "]") { throw error("a trailing comma before ']'", depth: inner) }
        }
    }

    private mutating func parseNumber(depth: Int) throws -> String {
        let start = pos
        if peek == UInt8(ascii: "-") { pos += 1 }
        func digits(_ p: inout StrictJSONParser) -> Int {
            var n = 0
            while let c = p.peek, c >= 0x30, c <= 0x39 { p.pos += 1; n += 1 }
            return n
        }
        guard let first = peek, first >= 0x30, first <= 0x39 else {
            throw error("a '-' not followed by a digit", depth: depth)
        }
        if first == 0x30 {
            pos += 1
            if let c = peek, c >= 0x30, c <= 0x39 { throw error("a number with a leading zero", depth: depth) }
        } else {
            _ = digits(&self)
        }
        if peek == UInt8(ascii: ".") {
            pos += 1
            guard digits(&self) > 0 else { throw error("a number with no digits after its '.'", depth: depth) }
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            pos += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { pos += 1 }
            guard digits(&self) > 0 else { throw error("a number with no digits in its exponent", depth: depth) }
        }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<pos]), as: UTF8.self)
    }

    private mutating func hex4(depth: Int) throws -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard let c = peek else { throw error("the input ends inside a \\u escape", depth: depth) }
            let d: UInt8
            switch c {
            case 0x30...0x39: d = c - 0x30
            case 0x41...0x46: d = c - 0x41 + 10
            case 0x61...0x66: d = c - 0x61 + 10
            default: throw error("a \\u escape needs four hex digits, found \(Self.describe(c))", depth: depth)
            }
            v = v << 4 | UInt32(d)
            pos += 1
        }
        return v
    }

    private mutating func parseString(depth: Int) throws -> String {
        let open = pos
        pos += 1 // opening quote
        var out: [UInt8] = []
        var runStart = pos
        while true {
            guard pos < bytes.count else {
                throw error("the input ends inside a string (a closing '\"' is missing)", at: open, depth: depth)
            }
            let c = bytes[pos]
            if c == UInt8(ascii: "\"") {
                out.append(contentsOf: bytes[runStart..<pos])
                pos += 1
                break
            }
            if c < 0x20 {
                throw error("a raw control character \(Self.uPlus(UInt32(c))) inside a string",
                            hint: "escape it as \(Self.escape(for: c))", depth: depth)
            }
            if c != UInt8(ascii: "\\") { pos += 1; continue }
            out.append(contentsOf: bytes[runStart..<pos])
            let escapeStart = pos
            pos += 1
            guard let e = peek else { throw error("the input ends inside an escape", depth: depth) }
            pos += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4(depth: depth)
                if (0xD800...0xDBFF).contains(scalar) {
                    guard bytes.count - pos >= 2, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") else {
                        throw error("an unpaired surrogate \\u\(Self.hex(scalar, width: 4).lowercased())", at: escapeStart, depth: depth)
                    }
                    pos += 2
                    let low = try hex4(depth: depth)
                    guard (0xDC00...0xDFFF).contains(low) else {
                        throw error("an unpaired surrogate \\u\(Self.hex(scalar, width: 4).lowercased())", at: escapeStart, depth: depth)
                    }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw error("an unpaired surrogate \\u\(Self.hex(scalar, width: 4).lowercased())", at: escapeStart, depth: depth)
                }
                guard let u = Unicode.Scalar(scalar) else { throw error("an invalid \\u escape", at: escapeStart, depth: depth) }
                out.append(contentsOf: Array(String(Character(u)).utf8))
            default:
                let what = (0x21...0x7E).contains(e) ? "an invalid escape \\\(Character(Unicode.Scalar(e)))"
                    : "a '\\' followed by \(Self.describe(e))"
                throw error(what, at: escapeStart, depth: depth)
            }
            runStart = pos
        }
        guard let s = String(validating: out, as: UTF8.self) else {
            throw error("a string that is not valid UTF-8", at: open, depth: depth)
        }
        return s
    }
}

/// Serialises a string as a JSON string literal (quotes included).
public func jsonQuoted(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if u.value < 0x20 {
                let hex = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(u)
            }
        }
    }
    return out + "\""
}
