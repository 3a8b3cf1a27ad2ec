import Foundation

/// What a bearer token may do: `read` the /v1 API (GET), or also `submit` (POST: new batches, cancels).
public enum TokenScope: String, Sendable, CaseIterable {
    case read, submit

    /// Whether a token of this scope may do what `needed` names: submit implies read.
    public func allows(_ needed: TokenScope) -> Bool { self == .submit || needed == .read }
}

/// The API's bearer tokens, from a tokens file (`--tokens-file`, TERNFLUX_API_TOKENS_FILE): one token per line,
/// `TOKEN read` or `TOKEN submit`, blank lines and lines starting with `#` ignored. A token is at least 16
/// characters of RFC 6750's token alphabet (letters, digits, `-._~+/`, trailing `=`), each token given once.
/// Empty when no tokens file is configured: the server then answers without authentication, on loopback only.
public struct APITokens: Sendable {
    struct Entry: Sendable {
        let token: [UInt8]
        let scope: TokenScope
    }

    private let entries: [Entry]

    public static let minimumLength = 16
    public static let maximumLength = 512

    public static let none = APITokens(entries: [])

    init(entries: [Entry]) { self.entries = entries }

    public var isEmpty: Bool { entries.isEmpty }
    public var count: Int { entries.count }

    /// Parses a tokens file's text; `source` names it in errors. A file without a single token is an error too:
    /// it would otherwise turn authentication off.
    public static func parse(_ text: String, source: String) throws -> APITokens {
        var entries: [Entry] = []
        var firstLine: [String: Int] = [:]
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            func fail(_ message: String) -> TokensFileError { TokensFileError(source: source, line: number, message: message) }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard fields.count == 2 else {
                throw fail("expected `TOKEN read` or `TOKEN submit`, got \(fields.count) field\(fields.count == 1 ? "" : "s")")
            }
            let token = fields[0]
            guard let scope = TokenScope(rawValue: fields[1]) else {
                throw fail("scope must be read or submit, got '\(fields[1].prefix(40))'")
            }
            if let problem = problem(of: token) { throw fail(problem) }
            if let earlier = firstLine[token] { throw fail("this token is already given on line \(earlier)") }
            firstLine[token] = number
            entries.append(Entry(token: Array(token.utf8), scope: scope))
        }
        if entries.isEmpty { throw TokensFileError(source: source, line: nil, message: "holds no tokens") }
        return APITokens(entries: entries)
    }

    /// Reads and parses a tokens file.
    public static func load(file path: String) throws -> APITokens {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw TokensFileError(source: path, line: nil, message: "cannot be read: \((error as NSError).localizedFailureReason ?? error.localizedDescription)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw TokensFileError(source: path, line: nil, message: "is not UTF-8 text")
        }
        return try parse(text, source: path)
    }

    /// Why `token` cannot be a token, or nil. The message never repeats the token (it may be a real one).
    static func problem(of token: String) -> String? {
        let bytes = Array(token.utf8)
        if bytes.count < minimumLength { return "the token is \(bytes.count) characters long; at least \(minimumLength) are needed" }
        if bytes.count > maximumLength { return "the token is longer than \(maximumLength) characters" }
        var seenPadding = false
        for b in bytes {
            let isAlphabet = (0x30...0x39).contains(b) || (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b)
                || b == UInt8(ascii: "-") || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "~")
                || b == UInt8(ascii: "+") || b == UInt8(ascii: "/")
            if b == UInt8(ascii: "=") { seenPadding = true; continue }
            if !isAlphabet || seenPadding {
                return "the token may hold only letters, digits and -._~+/ (with = only at the end)"
            }
        }
        return nil
    }

    /// The scope of `presented`, or nil when it is no token of this set. Every entry is compared in full, in time
    /// independent of where the bytes differ, so the answer's timing does not tell how much of a guess was right.
    func scope(of presented: String) -> TokenScope? {
        let candidate = Array(presented.utf8)
        var found: TokenScope?
        for entry in entries {
            if Self.constantTimeEqual(entry.token, candidate) { found = entry.scope }
        }
        return found
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in a.indices { difference |= a[i] ^ b[i] }
        return difference == 0
    }
}

/// A tokens file that cannot be used, naming the file and the line.
public struct TokensFileError: Error, CustomStringConvertible, Equatable {
    public let source: String
    public let line: Int?
    public let message: String

    public var description: String {
        "tokens file \(source)" + (line.map { ", line \($0)" } ?? "") + ": \(message)"
    }
}
