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

    /// Merges in O(n log n): a heap of candidate pairs ordered by (rank, position) over a linked list of
    /// symbols, so the order is exactly "lowest rank, then leftmost" while a long word (a 4 096-character
    /// prompt without spaces) costs no rescan of every pair per merge (docs/reliability.md, "Fuzzing").
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
        let n = symbols.count
        if n < 2 { return symbols }
        // Node i starts as symbol i; positions never move, so "leftmost" is "smallest node index".
        var next = Array(1...n)          // n = none
        var previous = Array(-1..<(n - 1))
        var alive = [Bool](repeating: true, count: n)
        var heap = PairHeap()
        for i in 0..<(n - 1) {
            if let m = merges[Self.key(symbols[i], symbols[i + 1])] {
                heap.push(.init(rank: m.rank, left: i, right: i + 1, leftID: symbols[i], rightID: symbols[i + 1]))
            }
        }
        while let candidate = heap.pop() {
            let l = candidate.left, r = candidate.right
            // Skip pairs a previous merge has changed or split.
            guard alive[l], alive[r], next[l] == r, symbols[l] == candidate.leftID, symbols[r] == candidate.rightID,
                  let m = merges[Self.key(symbols[l], symbols[r])] else { continue }
            symbols[l] = m.id
            alive[r] = false
            next[l] = next[r]
            if next[r] < n { previous[next[r]] = l }
            if previous[l] >= 0, let p = merges[Self.key(symbols[previous[l]], symbols[l])] {
                heap.push(.init(rank: p.rank, left: previous[l], right: l, leftID: symbols[previous[l]], rightID: symbols[l]))
            }
            if next[l] < n, let p = merges[Self.key(symbols[l], symbols[next[l]])] {
                heap.push(.init(rank: p.rank, left: l, right: next[l], leftID: symbols[l], rightID: symbols[next[l]]))
            }
        }
        var result: [Int] = []
        var i = 0
        while i < n { result.append(symbols[i]); i = next[i] }
        return result
    }
}

/// A binary min-heap of merge candidates ordered by (rank, left position).
private struct PairHeap {
    struct Candidate {
        var rank: Int
        var left: Int
        var right: Int
        var leftID: Int
        var rightID: Int

        func precedes(_ other: Candidate) -> Bool { rank != other.rank ? rank < other.rank : left < other.left }
    }

    private var items: [Candidate] = []

    mutating func push(_ c: Candidate) {
        items.append(c)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard items[i].precedes(items[parent]) else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> Candidate? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let a = 2 * i + 1, b = a + 1
                var best = i
                if a < items.count && items[a].precedes(items[best]) { best = a }
                if b < items.count && items[b].precedes(items[best]) { best = b }
                if best == i { break }
                items.swapAt(i, best)
                i = best
            }
        }
        return top
    }
}
