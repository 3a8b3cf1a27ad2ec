/// A token matched in the raw text before normalisation and pre-tokenisation (tokenizers' `AddedToken`).
public struct AddedToken: Equatable, Sendable {
    public var content: String
    public var id: Int
    public var singleWord: Bool = false
    public var lstrip: Bool = false
    public var rstrip: Bool = false
    public var normalized: Bool = false
    public var special: Bool = true

    public init(content: String, id: Int, singleWord: Bool = false, lstrip: Bool = false, rstrip: Bool = false,
                normalized: Bool = false, special: Bool = true) {
        self.content = content
        self.id = id
        self.singleWord = singleWord
        self.lstrip = lstrip
        self.rstrip = rstrip
        self.normalized = normalized
        self.special = special
    }

    static func parse(_ f: TokenizerJSON) throws -> AddedToken {
        AddedToken(content: try f.string("content"), id: try f.int("id"),
                   singleWord: try f.bool("single_word", default: false),
                   lstrip: try f.bool("lstrip", default: false), rstrip: try f.bool("rstrip", default: false),
                   normalized: try f.bool("normalized", default: false), special: try f.bool("special", default: false))
    }
}

/// A piece of input text: either plain text still to be tokenised, or an added token already resolved.
enum TextSegment: Equatable {
    case text([Unicode.Scalar])
    case token(Int)
}

/// Splits text on added tokens the way tokenizers' `AddedVocabulary` does: leftmost-longest matches,
/// `single_word` requiring non-word neighbours, `lstrip`/`rstrip` swallowing adjacent whitespace.
struct AddedTokenMatcher {
    private let tokens: [(scalars: [Unicode.Scalar], token: AddedToken)]

    init(_ tokens: [AddedToken]) {
        self.tokens = tokens.filter { !$0.content.isEmpty }.map { (Array($0.content.unicodeScalars), $0) }
    }

    var isEmpty: Bool { tokens.isEmpty }

    func split(_ text: [Unicode.Scalar]) -> [TextSegment] {
        if tokens.isEmpty { return text.isEmpty ? [] : [.text(text)] }
        var segments: [TextSegment] = []
        var plainStart = 0
        var i = 0
        let n = text.count
        while i < n {
            var best: (length: Int, token: AddedToken)?
            for (scalars, token) in tokens where scalars.count <= n - i && (best == nil || scalars.count > best!.length) {
                if text[i] != scalars[0] { continue }
                var ok = true
                for k in 1..<scalars.count where text[i + k] != scalars[k] { ok = false; break }
                guard ok else { continue }
                if token.singleWord {
                    if i > 0, UnicodeClass.isWordCharacter(text[i - 1]) { continue }
                    let end = i + scalars.count
                    if end < n, UnicodeClass.isWordCharacter(text[end]) { continue }
                }
                best = (scalars.count, token)
            }
            guard let match = best else { i += 1; continue }
            var start = i
            var end = i + match.length
            if match.token.lstrip {
                while start > plainStart, UnicodeClass.isWhitespace(text[start - 1]) { start -= 1 }
            }
            if match.token.rstrip {
                while end < n, UnicodeClass.isWhitespace(text[end]) { end += 1 }
            }
            if start > plainStart { segments.append(.text(Array(text[plainStart..<start]))) }
            segments.append(.token(match.token.id))
            plainStart = end
            i = end
        }
        if plainStart < n { segments.append(.text(Array(text[plainStart..<n]))) }
        return segments
    }
}
