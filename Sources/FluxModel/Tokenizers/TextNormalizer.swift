import Foundation

/// The `normalizer` of a tokenizer.json, for the components SentencePiece-converted tokenizers use.
indirect enum TextNormalizer {
    case sequence([TextNormalizer])
    case precompiled(PrecompiledCharsMap)
    case nfc, nfd, nfkc, nfkd
    case lowercase
    case strip(left: Bool, right: Bool)
    case replaceString(pattern: [Unicode.Scalar], content: [Unicode.Scalar])
    case replaceRegex(pattern: Regex<AnyRegexOutput>, content: String)
    case prepend([Unicode.Scalar])

    static func parse(_ f: TokenizerJSON) throws -> TextNormalizer {
        let type = try f.string("type")
        switch type {
        case "Sequence":
            return .sequence(try f.objects("normalizers").map(parse))
        case "Precompiled":
            return .precompiled(try PrecompiledCharsMap(base64: try f.string("precompiled_charsmap"), source: f.path))
        case "NFC": return .nfc
        case "NFD": return .nfd
        case "NFKC": return .nfkc
        case "NFKD": return .nfkd
        case "Lowercase": return .lowercase
        case "Strip":
            return .strip(left: try f.bool("strip_left", default: true), right: try f.bool("strip_right", default: true))
        case "Prepend":
            return .prepend(try f.string("prepend").scalarArray)
        case "Replace":
            let pattern = try f.object("pattern")
            let content = try f.string("content")
            if pattern.has("String") {
                return .replaceString(pattern: try pattern.string("String").scalarArray, content: content.scalarArray)
            }
            let source = try pattern.string("Regex")
            do {
                let regex = try Regex(source).matchingSemantics(.unicodeScalar)
                return .replaceRegex(pattern: regex, content: content)
            } catch {
                throw pattern.error("Regex", "cannot compile \(source.debugDescription): \(error)")
            }
        default:
            throw TokenizerError.unsupported(path: f.path, field: f.name("type"), value: type)
        }
    }

    func apply(_ s: [Unicode.Scalar]) -> [Unicode.Scalar] {
        switch self {
        case .sequence(let steps):
            return steps.reduce(s) { $1.apply($0) }
        case .precompiled(let map):
            return map.normalize(s.string).scalarArray
        case .nfc: return s.string.precomposedStringWithCanonicalMapping.scalarArray
        case .nfd: return s.string.decomposedStringWithCanonicalMapping.scalarArray
        case .nfkc: return s.string.precomposedStringWithCompatibilityMapping.scalarArray
        case .nfkd: return s.string.decomposedStringWithCompatibilityMapping.scalarArray
        case .lowercase: return UnicodeClass.lowercased(s)
        case .strip(let left, let right):
            var lo = 0, hi = s.count
            if left { while lo < hi, UnicodeClass.isWhitespace(s[lo]) { lo += 1 } }
            if right { while hi > lo, UnicodeClass.isWhitespace(s[hi - 1]) { hi -= 1 } }
            return Array(s[lo..<hi])
        case .prepend(let prefix):
            return s.isEmpty ? s : prefix + s
        case .replaceString(let pattern, let content):
            guard !pattern.isEmpty, s.count >= pattern.count else { return s }
            var out: [Unicode.Scalar] = []
            var i = 0
            while i < s.count {
                if i + pattern.count <= s.count, s[i] == pattern[0], Array(s[i..<(i + pattern.count)]) == pattern {
                    out += content; i += pattern.count
                } else {
                    out.append(s[i]); i += 1
                }
            }
            return out
        case .replaceRegex(let regex, let content):
            let text = s.string
            var out = String.UnicodeScalarView()
            var cursor = text.startIndex
            for match in text.matches(of: regex) where !match.range.isEmpty {
                out.append(contentsOf: text.unicodeScalars[cursor..<match.range.lowerBound])
                out.append(contentsOf: content.unicodeScalars)
                cursor = match.range.upperBound
            }
            out.append(contentsOf: text.unicodeScalars[cursor...])
            return Array(out)
        }
    }
}

/// The `pre_tokenizer` of a tokenizer.json (whitespace splitting and SentencePiece's Metaspace).
indirect enum TextPreTokenizer {
    case sequence([TextPreTokenizer])
    case whitespaceSplit
    case metaspace(replacement: Unicode.Scalar, prepend: MetaspacePrepend, split: Bool)

    enum MetaspacePrepend: String { case always, first, never }

    /// One piece of pre-tokenised text; `atStart` marks the piece that begins the whole input
    /// (Metaspace's `prepend_scheme: first`).
    struct Piece { var scalars: [Unicode.Scalar]; var atStart: Bool }

    static func parse(_ f: TokenizerJSON) throws -> TextPreTokenizer {
        let type = try f.string("type")
        switch type {
        case "Sequence":
            return .sequence(try f.objects("pretokenizers").map(parse))
        case "WhitespaceSplit":
            return .whitespaceSplit
        case "Metaspace":
            let replacementText = try f.optionalString("replacement") ?? "\u{2581}"
            let scalars = replacementText.scalarArray
            guard scalars.count == 1 else { throw f.error("replacement", "expected exactly one character") }
            var prepend: MetaspacePrepend
            if let scheme = try f.optionalString("prepend_scheme") {
                guard let p = MetaspacePrepend(rawValue: scheme) else {
                    throw f.error("prepend_scheme", "expected always, first or never, got \(scheme.debugDescription)")
                }
                prepend = p
            } else {
                prepend = try f.bool("add_prefix_space", default: true) ? .always : .never
            }
            return .metaspace(replacement: scalars[0], prepend: prepend, split: try f.bool("split", default: true))
        default:
            throw TokenizerError.unsupported(path: f.path, field: f.name("type"), value: type)
        }
    }

    func apply(_ pieces: [Piece]) -> [Piece] {
        switch self {
        case .sequence(let steps):
            return steps.reduce(pieces) { $1.apply($0) }
        case .whitespaceSplit:
            var out: [Piece] = []
            for piece in pieces {
                var current: [Unicode.Scalar] = []
                var currentAtStart = piece.atStart
                for s in piece.scalars {
                    if UnicodeClass.isWhitespace(s) {
                        if !current.isEmpty { out.append(Piece(scalars: current, atStart: currentAtStart)) }
                        current = []
                        currentAtStart = false
                    } else {
                        current.append(s)
                    }
                }
                if !current.isEmpty { out.append(Piece(scalars: current, atStart: currentAtStart)) }
            }
            return out
        case .metaspace(let replacement, let prepend, let split):
            var out: [Piece] = []
            for piece in pieces where !piece.scalars.isEmpty {
                var s = piece.scalars.map { $0 == " " ? replacement : $0 }
                let shouldPrepend: Bool
                switch prepend {
                case .always: shouldPrepend = true
                case .first: shouldPrepend = piece.atStart
                case .never: shouldPrepend = false
                }
                if shouldPrepend && s.first != replacement { s.insert(replacement, at: 0) }
                guard split else { out.append(Piece(scalars: s, atStart: piece.atStart)); continue }
                var current: [Unicode.Scalar] = []
                var first = true
                for c in s {
                    if c == replacement, !current.isEmpty {
                        out.append(Piece(scalars: current, atStart: piece.atStart && first))
                        first = false
                        current = []
                    }
                    current.append(c)
                }
                if !current.isEmpty { out.append(Piece(scalars: current, atStart: piece.atStart && first)) }
            }
            return out
        }
    }
}
