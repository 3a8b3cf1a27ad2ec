/// GPT-2's reversible byte ↔ printable-character table (`bytes_to_unicode`): printable Latin-1 bytes map to
/// themselves, the other 68 bytes to U+0100… in byte order.
enum ByteLevel {
    static let byteToScalar: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            if printable {
                table[b] = Unicode.Scalar(UInt32(b))!
            } else {
                table[b] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// The order of `bytes_to_unicode()`'s dict (printable bytes first, then the remapped ones), which is the
    /// order OpenAI's CLIP vocabulary lists the 256 byte symbols in.
    static let vocabularyOrder: [UInt8] = {
        let printable = Array(0x21...0x7E) + Array(0xA1...0xAC) + Array(0xAE...0xFF)
        let rest = (0..<256).filter { !printable.contains($0) }
        return (printable + rest).map { UInt8($0) }
    }()

    static let scalarToByte: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for (b, s) in byteToScalar.enumerated() { map[s.value] = UInt8(b) }
        return map
    }()

    /// The byte-level alphabet string of some UTF-8 text.
    static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var view = String.UnicodeScalarView()
        for b in bytes { view.append(byteToScalar[Int(b)]) }
        return String(view)
    }

    /// Maps byte-level characters back to bytes; characters outside the alphabet are kept as their UTF-8.
    static func decode(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        for s in text.unicodeScalars {
            if let b = scalarToByte[s.value] { out.append(b) } else { out.append(contentsOf: Array(String(s).utf8)) }
        }
        return out
    }

    /// GPT-2's pre-tokenisation regex (the `ByteLevel` pre-tokenizer with `use_regex`):
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
    static func gpt2Split(_ s: [Unicode.Scalar]) -> [ArraySlice<Unicode.Scalar>] {
        var pieces: [ArraySlice<Unicode.Scalar>] = []
        var i = 0
        let n = s.count
        while i < n {
            if let len = contractionLength(s, i) {
                pieces.append(s[i..<(i + len)]); i += len; continue
            }
            var j = i
            if s[j] == " ", j + 1 < n, !UnicodeClass.isWhitespace(s[j + 1]) { j += 1 }
            let c = s[j]
            if !UnicodeClass.isWhitespace(c) {
                let cls: (Unicode.Scalar) -> Bool
                if UnicodeClass.isLetter(c) { cls = UnicodeClass.isLetter }
                else if UnicodeClass.isNumber(c) { cls = UnicodeClass.isNumber }
                else { cls = { !UnicodeClass.isWhitespace($0) && !UnicodeClass.isLetter($0) && !UnicodeClass.isNumber($0) } }
                var k = j + 1
                while k < n, cls(s[k]) { k += 1 }
                pieces.append(s[i..<k]); i = k; continue
            }
            // A whitespace run: `\s+(?!\S)` leaves the last space for the next word when one follows.
            var k = i
            while k < n, UnicodeClass.isWhitespace(s[k]) { k += 1 }
            if k < n, k - i > 1 { k -= 1 }
            pieces.append(s[i..<k]); i = k
        }
        return pieces
    }

    /// Length of the contraction (`'s`, `'t`, `'re`, `'ve`, `'m`, `'ll`, `'d`) starting at `i`, if any.
    static func contractionLength(_ s: [Unicode.Scalar], _ i: Int) -> Int? {
        guard s[i] == "'", i + 1 < s.count else { return nil }
        let a = s[i + 1]
        if a == "s" || a == "t" || a == "m" || a == "d" { return 2 }
        if i + 2 < s.count {
            let b = s[i + 2]
            if (a == "r" && b == "e") || (a == "v" && b == "e") || (a == "l" && b == "l") { return 3 }
        }
        return nil
    }
}
