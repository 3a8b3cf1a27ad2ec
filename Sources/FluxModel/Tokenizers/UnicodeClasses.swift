/// The character classes the Hugging Face tokenizers' regexes (Oniguruma, Unicode mode) use:
/// `\s` is the Unicode White_Space property, `\p{L}` the letter categories, `\p{N}` the number categories.
enum UnicodeClass {
    @inline(__always)
    static func isWhitespace(_ s: Unicode.Scalar) -> Bool {
        s.properties.isWhitespace
    }

    @inline(__always)
    static func isLetter(_ s: Unicode.Scalar) -> Bool {
        if s.isASCII { return (s.value | 0x20) >= 0x61 && (s.value | 0x20) <= 0x7A }
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    @inline(__always)
    static func isNumber(_ s: Unicode.Scalar) -> Bool {
        if s.isASCII { return s.value >= 0x30 && s.value <= 0x39 }
        switch s.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    /// Rust's `char::is_alphanumeric` (Alphabetic or Numeric), used for added tokens' `single_word`.
    static func isWordCharacter(_ s: Unicode.Scalar) -> Bool {
        s.properties.isAlphabetic || isNumber(s) || s == "_"
    }

    /// Per-character full lowercase mapping, as Rust's `char::to_lowercase` applied one character at a time
    /// (no context-dependent final sigma).
    static func lowercased(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(scalars.count)
        for s in scalars {
            if s.isASCII {
                out.append(s.value >= 0x41 && s.value <= 0x5A ? Unicode.Scalar(s.value + 32)! : s)
            } else {
                out.append(contentsOf: s.properties.lowercaseMapping.unicodeScalars)
            }
        }
        return out
    }
}

extension Array where Element == Unicode.Scalar {
    /// A String made of exactly these scalars (no normalisation).
    var string: String {
        var s = String.UnicodeScalarView()
        s.append(contentsOf: self)
        return String(s)
    }
}

extension String {
    var scalarArray: [Unicode.Scalar] { Array(unicodeScalars) }
}
