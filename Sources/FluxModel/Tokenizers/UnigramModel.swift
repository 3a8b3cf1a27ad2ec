import Foundation

/// SentencePiece Unigram model as tokenizers' `Unigram`: the segmentation maximising the summed piece scores
/// (Viterbi over the pieces found by a byte trie), characters no piece covers scored `min score − 10` as
/// `<unk>`, consecutive unknowns fused into one, then optional byte fallback to `<0xXX>` pieces.
///
/// Pieces are compared as UTF-8 bytes, never as Swift `String`s (which compare by canonical equivalence).
public final class UnigramModel: @unchecked Sendable {
    public let pieces: [(piece: String, score: Double)]
    public let unknownID: Int?
    public let byteFallback: Bool
    let minScore: Double
    private let pieceBytes: [[UInt8]]
    /// Trie transitions: (node << 8 | byte) → child node. Node 0 is the root.
    private var transitions: [Int: Int32] = [:]
    /// Piece id ending at each trie node, −1 when none.
    private var terminal: [Int32] = [-1]
    private let byteTokenIDs: [Int?]
    private var cache: [[UInt8]: [Int]] = [:]
    private let cacheLock = NSLock()

    public init(pieces: [(String, Double)], unknownID: Int?, byteFallback: Bool, source: String) throws {
        guard !pieces.isEmpty else {
            throw TokenizerError.malformed(path: source, field: "model.vocab", reason: "vocabulary is empty")
        }
        if let unknownID, !(0..<pieces.count).contains(unknownID) {
            throw TokenizerError.malformed(path: source, field: "model.unk_id",
                                           reason: "\(unknownID) is outside the vocabulary of \(pieces.count) pieces")
        }
        self.pieces = pieces.map { (piece: $0.0, score: $0.1) }
        self.unknownID = unknownID
        self.byteFallback = byteFallback
        self.pieceBytes = pieces.map { Array($0.0.utf8) }
        minScore = pieces.map(\.1).min() ?? 0
        for (id, bytes) in pieceBytes.enumerated() {
            var node = 0
            for b in bytes {
                let key = node << 8 | Int(b)
                if let next = transitions[key] {
                    node = Int(next)
                } else {
                    terminal.append(-1)
                    let next = terminal.count - 1
                    transitions[key] = Int32(next)
                    node = next
                }
            }
            // tokenizers' token→id map keeps the last id of a repeated piece.
            if !bytes.isEmpty { terminal[node] = Int32(id) }
        }
        var byteIDs = [Int?](repeating: nil, count: 256)
        if byteFallback {
            for b in 0..<256 { byteIDs[b] = Self.lookup(Array(String(format: "<0x%02X>", b).utf8), transitions, terminal) }
        }
        byteTokenIDs = byteIDs
    }

    private static func lookup(_ bytes: [UInt8], _ transitions: [Int: Int32], _ terminal: [Int32]) -> Int? {
        var node = 0
        for b in bytes {
            guard let next = transitions[node << 8 | Int(b)] else { return nil }
            node = Int(next)
        }
        return terminal[node] >= 0 ? Int(terminal[node]) : nil
    }

    public func id(of piece: String) -> Int? { Self.lookup(Array(piece.utf8), transitions, terminal) }

    /// Token ids of one pre-tokenised piece.
    public func tokenize(_ text: String) throws -> [Int] {
        let bytes = Array(text.utf8)
        if bytes.isEmpty { return [] }
        cacheLock.lock()
        if let hit = cache[bytes] { cacheLock.unlock(); return hit }
        cacheLock.unlock()
        let ids = try encode(bytes)
        cacheLock.lock()
        if cache.count < 100_000 { cache[bytes] = ids }
        cacheLock.unlock()
        return ids
    }

    private func encode(_ s: [UInt8]) throws -> [Int] {
        let size = s.count
        let unkScore = minScore - 10
        var bestScore = [Double](repeating: 0, count: size + 1)
        var bestStart = [Int](repeating: -1, count: size + 1)
        var bestID = [Int](repeating: 0, count: size + 1)
        var start = 0
        while start < size {
            let scoreHere = bestScore[start]
            let charLength = Self.utf8Length(s[start])
            var hasSingle = false
            var node = 0
            var pos = start
            while pos < size, let next = transitions[node << 8 | Int(s[pos])] {
                node = Int(next)
                pos += 1
                let id = Int(terminal[node])
                if id < 0 { continue }
                let candidate = pieces[id].score + scoreHere
                if bestStart[pos] < 0 || candidate > bestScore[pos] {
                    bestScore[pos] = candidate
                    bestStart[pos] = start
                    bestID[pos] = id
                }
                if pos - start == charLength { hasSingle = true }
            }
            if !hasSingle {
                guard let unknownID else {
                    throw TokenizerEncodingUnknown.missingUnknownID
                }
                let end = min(start + charLength, size)
                let candidate = unkScore + scoreHere
                if bestStart[end] < 0 || candidate > bestScore[end] {
                    bestScore[end] = candidate
                    bestStart[end] = start
                    bestID[end] = unknownID
                }
            }
            start += charLength
        }
        // Walk back; runs of unknown characters become one piece (fuse_unk).
        var spans: [(start: Int, end: Int, id: Int)] = []
        var end = size
        while end > 0 {
            let st = bestStart[end]
            let id = bestID[end]
            if id == unknownID, let last = spans.last, last.id == unknownID, last.start == end {
                spans[spans.count - 1] = (st, last.end, id)
            } else {
                spans.append((st, end, id))
            }
            end = st
        }
        spans.reverse()
        var ids: [Int] = []
        ids.reserveCapacity(spans.count)
        for span in spans {
            if span.id != unknownID {
                ids.append(span.id)
                continue
            }
            let text = Array(s[span.start..<span.end])
            // A fused unknown run may itself be a piece (tokenizers looks the string up again).
            if let id = Self.lookup(text, transitions, terminal) { ids.append(id); continue }
            if byteFallback {
                let bytes = text.map { byteTokenIDs[Int($0)] }
                if bytes.allSatisfy({ $0 != nil }) { ids.append(contentsOf: bytes.map { $0! }); continue }
            }
            ids.append(span.id)
        }
        return ids
    }

    @inline(__always)
    private static func utf8Length(_ lead: UInt8) -> Int {
        if lead < 0x80 { return 1 }
        if lead >> 5 == 0b110 { return 2 }
        if lead >> 4 == 0b1110 { return 3 }
        return 4
    }
}

enum TokenizerEncodingUnknown: Error, CustomStringConvertible {
    case missingUnknownID
    var description: String { "the Unigram model met a character no piece covers, and it has no `unk_id`" }
}
