/// The ids a tokenizer gives for one prompt, as a Hugging Face tokenizer called with
/// `padding="max_length", max_length=N, truncation=True` (ids) and with `padding="longest"` (untruncated).
public struct TokenizedPrompt: Equatable, Sendable {
    /// Special tokens added, truncated to the maximum length and padded to it.
    public var ids: [Int]
    /// Special tokens added, neither truncated nor padded.
    public var untruncated: [Int]

    public init(ids: [Int], untruncated: [Int]) {
        self.ids = ids
        self.untruncated = untruncated
    }

    /// Whether truncation removed tokens (diffusers' test: the untruncated ids are at least as long and differ).
    public var wasTruncated: Bool { untruncated.count >= ids.count && untruncated != ids }
}

/// Pads or truncates token ids the way `tokenizers` does for a single sequence: the content is cut to
/// `maxLength − specials` first, then the special tokens are added, then padding goes on the right.
enum SequenceLayout {
    static func build(content: [Int], prefix: [Int], suffix: [Int], maxLength: Int, padID: Int) throws -> TokenizedPrompt {
        let specials = prefix.count + suffix.count
        guard maxLength >= specials else {
            throw TokenizerEncodingError.maxLengthTooSmall(maxLength: maxLength, specialTokens: specials)
        }
        let kept = content.prefix(maxLength - specials)
        var ids = prefix + kept + suffix
        if ids.count < maxLength { ids += [Int](repeating: padID, count: maxLength - ids.count) }
        return TokenizedPrompt(ids: ids, untruncated: prefix + content + suffix)
    }
}

public enum TokenizerEncodingError: Error, CustomStringConvertible, Equatable {
    case maxLengthTooSmall(maxLength: Int, specialTokens: Int)

    public var description: String {
        switch self {
        case .maxLengthTooSmall(let maxLength, let specials):
            return "maximum sequence length \(maxLength) is smaller than the \(specials) special token(s) the tokenizer adds"
        }
    }
}

/// Python's `repr` of a string, so warnings print the removed text exactly as diffusers' log line does.
enum PythonRepr {
    static func string(_ s: String) -> String {
        let useDouble = s.contains("'") && !s.contains("\"")
        let quote: Character = useDouble ? "\"" : "'"
        var out = String(quote)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if Character(scalar) == quote { out += "\\\(quote)"; continue }
                if isPrintable(scalar) {
                    out.unicodeScalars.append(scalar)
                } else if scalar.value < 0x100 {
                    out += "\\x" + hex(scalar.value, 2)
                } else if scalar.value < 0x10000 {
                    out += "\\u" + hex(scalar.value, 4)
                } else {
                    out += "\\U" + hex(scalar.value, 8)
                }
            }
        }
        out.append(quote)
        return out
    }

    static func list(_ items: [String]) -> String {
        "[" + items.map(string).joined(separator: ", ") + "]"
    }

    private static func hex(_ v: UInt32, _ width: Int) -> String {
        let digits = String(v, radix: 16)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    /// Python's str.isprintable: everything except categories Cc, Cf, Cs, Co, Cn, Zl, Zp, Zs (space excepted).
    private static func isPrintable(_ s: Unicode.Scalar) -> Bool {
        if s == " " { return true }
        switch s.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned,
             .lineSeparator, .paragraphSeparator, .spaceSeparator:
            return false
        default:
            return true
        }
    }
}
