import Foundation

/// SentencePiece's `precompiled_charsmap` normaliser as tokenizers' `Precompiled` applies it.
///
/// Layout: a little-endian u32 with the trie's size in bytes, the darts-clone double-array trie (u32 units),
/// then a pool of NUL-terminated replacement strings; a trie value is an offset into that pool.
/// Each grapheme cluster shorter than 6 UTF-8 bytes is looked up whole; otherwise (or when it has no entry)
/// each of its characters is. A lookup takes the *first* (shortest) trie key that prefixes the chunk, and
/// the whole chunk is replaced by that key's replacement — the reference's behaviour, kept on purpose.
public struct PrecompiledCharsMap: Sendable {
    let units: [UInt32]
    let pool: [UInt8]

    public init(bytes: [UInt8], source: String = "precompiled_charsmap") throws {
        guard bytes.count >= 4 else {
            throw TokenizerError.malformed(path: source, field: "precompiled_charsmap", reason: "shorter than its 4-byte header")
        }
        let trieSize = Int(UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24)
        guard trieSize % 4 == 0, 4 + trieSize <= bytes.count, trieSize > 0 else {
            throw TokenizerError.malformed(path: source, field: "precompiled_charsmap",
                                           reason: "trie size \(trieSize) does not fit in \(bytes.count - 4) bytes")
        }
        var units = [UInt32](repeating: 0, count: trieSize / 4)
        for i in 0..<units.count {
            let o = 4 + 4 * i
            units[i] = UInt32(bytes[o]) | UInt32(bytes[o + 1]) << 8 | UInt32(bytes[o + 2]) << 16 | UInt32(bytes[o + 3]) << 24
        }
        self.units = units
        self.pool = Array(bytes[(4 + trieSize)...])
        // The pool must be valid UTF-8 (tokenizers rejects the map otherwise).
        if String(bytes: pool, encoding: .utf8) == nil {
            throw TokenizerError.malformed(path: source, field: "precompiled_charsmap", reason: "replacement strings are not valid UTF-8")
        }
    }

    public init(base64: String, source: String) throws {
        guard let data = Data(base64Encoded: base64) else {
            throw TokenizerError.malformed(path: source, field: "precompiled_charsmap", reason: "not valid base64")
        }
        try self.init(bytes: [UInt8](data), source: source)
    }

    @inline(__always) private static func hasLeaf(_ u: UInt32) -> Bool { (u >> 8) & 1 == 1 }
    @inline(__always) private static func value(_ u: UInt32) -> Int { Int(u & ((1 << 31) - 1)) }
    @inline(__always) private static func label(_ u: UInt32) -> UInt32 { u & ((1 << 31) | 0xFF) }
    @inline(__always) private static func offset(_ u: UInt32) -> Int { Int((u >> 10) << ((u & (1 << 9)) >> 6)) }

    /// Pool offset of the shortest trie key that prefixes `key`, if any (darts-clone common prefix search).
    func firstPrefixValue<C: Collection>(_ key: C) -> Int? where C.Element == UInt8 {
        var node = Self.offset(units[0])
        for c in key {
            if c == 0 { break }
            node ^= Int(c)
            guard node >= 0, node < units.count else { return nil }
            let unit = units[node]
            if Self.label(unit) != UInt32(c) { return nil }
            node ^= Self.offset(unit)
            if Self.hasLeaf(unit) {
                guard node >= 0, node < units.count else { return nil }
                return Self.value(units[node])
            }
        }
        return nil
    }

    /// Replacement bytes for one chunk, nil when no key prefixes it.
    func transform<C: Collection>(_ chunk: C) -> ArraySlice<UInt8>? where C.Element == UInt8 {
        guard let start = firstPrefixValue(chunk), start <= pool.count else { return nil }
        var end = start
        while end < pool.count && pool[end] != 0 { end += 1 }
        return pool[start..<end]
    }

    public func normalize(_ text: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for grapheme in text {
            let bytes = Array(grapheme.utf8)
            if bytes.count < 6, let replacement = transform(bytes) {
                out.append(contentsOf: replacement)
                continue
            }
            for scalar in grapheme.unicodeScalars {
                let part = Array(String(scalar).utf8)
                if let replacement = transform(part) { out.append(contentsOf: replacement) } else { out.append(contentsOf: part) }
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
