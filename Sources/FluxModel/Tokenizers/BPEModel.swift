import Foundation

/// Byte-pair-encoding model as Hugging Face `tokenizers`' `BPE` (no dropout, no continuing-subword prefix):
/// a word's characters (the last one carrying `endOfWordSuffix`) are merged pair by pair, always the pair
/// with the lowest merge rank first and, among equal ranks, the leftmost.
public final class BPEModel: @unchecked Sendable {
    public let vocabulary: [String: Int]
    public let endOfWordSuffix: String
    public let unknownID: Int?
    let idToToken: [Int: String]
    /// (left id, right id) → (rank, merged id).
    private let merges: [UInt64: (rank: Int, id: Int)]
    private var cache: [String: [Int]] = [:]
    private let cacheLock = NSLock()
    private static let cacheLimit = 100_000

    /// - Parameters:
    ///   - merges: pairs in rank order (rank = index).
    ///   - source: file name used in error messages.
    public init(vocabulary: [String: Int], merges: [(String, String)], endOfWordSuffix: String,
                unknownToken: String?, source: String) throws {
        self.vocabulary = vocabulary
        self.endOfWordSuffix = endOfWordSuffix
        var reverse: [Int: String] = [:]
        reverse.reserveCapacity(vocabulary.count)
        for (token, id) in vocabulary { reverse[id] = token }
        self.idToToken = reverse
        if let unknownToken {
            guard let id = vocabulary[unknownToken] else {
                throw TokenizerError.malformed(path: source, field: "unk_token",
                                               reason: "unknown token \(unknownToken.debugDescription) is not in the vocabulary")
            }
            unknownID = id
        } else {
            unknownID = nil
        }
        var table: [UInt64: (rank: Int, id: Int)] = [:]
        table.reserveCapacity(merges.count)
        for (rank, pair) in merges.enumerated() {
            guard let a = vocabulary[pair.0] else {
                throw TokenizerError.malformed(path: source, field: "merges[\(rank)]",
                                               reason: "token \(pair.0.debugDescription) is not in the vocabulary")
            }
            guard let b = vocabulary[pair.1] else {
                throw TokenizerError.malformed(path: source, field: "merges[\(rank)]",
                                               reason: "token \(pair.1.debugDescription) is not in the vocabulary")
            }
            guard let merged = vocabulary[pair.0 + pair.1] else {
                throw TokenizerError.malformed(path: source, field: "merges[\(rank)]",
                                               reason: "merged token \((pair.0 + pair.1).debugDescription) is not in the vocabulary")
            }
            let key = Self.key(a, b)
            table[key] = (rank, merged)   // as tokenizers: a repeated pair keeps its last rank
        }
        self.merges = table
    }

    @inline(__always)
    private static func key(_ a: Int, _ b: Int) -> UInt64 { UInt64(UInt32(a)) << 32 | UInt64(UInt32(b)) }

    public func token(for id: Int) -> String? { idToToken[id] }

    /// Token ids of one pre-tokenised word (already in the byte-level alphabet).
    public func tokenize(word: String) -> [Int] {
        if word.isEmpty { return [] }
        cacheLock.lock()
        if let hit = cache[word] { cacheLock.unlock(); return hit }
        cacheLock.unlock()
        let ids = merge(word)
        cacheLock.lock()
        if cache.count < Self.cacheLimit { cache[word] = ids }
        cacheLock.unlock()
        return ids
    }

    private func merge(_ word: String) -> [Int] {
        let chars = Array(word.unicodeScalars)
        var symbols: [Int] = []
        symbols.reserveCapacity(chars.count)
        for (i, c) in chars.enumerated() {
            var piece = String(c)
            if i == chars.count - 1 { piece += endOfWordSuffix }
            if let id = vocabulary[piece] {
                symbols.append(id)
            } else if let unknownID {
                symbols.append(unknownID)
            }
        }
        while symbols.count > 1 {
            var bestRank = Int.max
            var bestIndex = -1
            var bestID = 0
            for i in 0..<(symbols.count - 1) {
                if let m = merges[Self.key(symbols[i], symbols[i + 1])], m.rank < bestRank {
                    bestRank = m.rank
                    bestIndex = i
                    bestID = m.id
                }
            }
            if bestIndex < 0 { break }
            symbols[bestIndex] = bestID
            symbols.remove(at: bestIndex + 1)
        }
        return symbols
    }
}
