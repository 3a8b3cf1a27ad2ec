import Foundation
import XCTest
@testable import FluxModel

/// The BPE merge loop is a heap over a linked list (O(n log n)); before, it rescanned every pair per merge
/// and a 4 096-character prompt with no space took seconds (found by the CLIP fuzz target). These tests hold
/// the new loop to the old one's exact answers and bound its time on the fuzzer's input.
final class BPEMergeTests: XCTestCase {
    /// The previous implementation, kept as the reference: the lowest rank first, the leftmost among equals.
    static func referenceMerge(_ word: String, vocabulary: [String: Int], merges: [(String, String)], suffix: String) -> [Int] {
        var table: [[Int]: (rank: Int, id: Int)] = [:]
        for (rank, pair) in merges.enumerated() {
            if let a = vocabulary[pair.0], let b = vocabulary[pair.1], let m = vocabulary[pair.0 + pair.1] { table[[a, b]] = (rank, m) }
        }
        let chars = Array(word.unicodeScalars)
        var symbols = chars.enumerated().compactMap { i, c in vocabulary[String(c) + (i == chars.count - 1 ? suffix : "")] }
        while symbols.count > 1 {
            var best: (rank: Int, index: Int, id: Int)?
            for i in 0..<(symbols.count - 1) {
                if let m = table[[symbols[i], symbols[i + 1]]], m.rank < (best?.rank ?? .max) { best = (m.rank, i, m.id) }
            }
            guard let best else { break }
            symbols[best.index] = best.id
            symbols.remove(at: best.index + 1)
        }
        return symbols
    }

    /// A vocabulary dense in overlapping merges over a three-letter alphabet, where order matters.
    func testHeapMergeMatchesTheReferenceOnRandomWords() throws {
        let merges: [(String, String)] = [("a", "a"), ("a", "b"), ("b", "a"), ("aa", "b"), ("b", "b</w>"), ("ab", "a"),
                                          ("c", "a"), ("aa", "aa"), ("b", "c"), ("ca", "b</w>"), ("aab", "c"), ("aaaa", "a</w>"),
                                          ("ba", "a"), ("a", "a</w>"), ("bc", "bc"), ("b", "b")]
        var vocabulary: [String: Int] = [:]
        for token in ["a", "b", "c", "a</w>", "b</w>", "c</w>"] + merges.map({ $0.0 + $0.1 }) where vocabulary[token] == nil {
            vocabulary[token] = vocabulary.count
        }
        let model = try BPEModel(vocabulary: vocabulary, merges: merges, endOfWordSuffix: "</w>", unknownToken: nil, source: "test")
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            let length = Int.random(in: 1...40, using: &rng)
            let word = String((0..<length).map { _ in "aabbc".randomElement(using: &rng)! })
            XCTAssertEqual(model.tokenize(word: word), Self.referenceMerge(word, vocabulary: vocabulary, merges: merges, suffix: "</w>"), word)
        }
        for word in [String(repeating: "a", count: 301), String(repeating: "ab", count: 150), String(repeating: "aabc", count: 80)] {
            XCTAssertEqual(model.tokenize(word: word), Self.referenceMerge(word, vocabulary: vocabulary, merges: merges, suffix: "</w>"))
        }
    }

    /// Loaded once: parsing the 49 408-token vocabulary takes seconds in a debug test build.
    private static let sharedCLIP: Result<(CLIPTokenizer, [String: Int], [(String, String)]), Error> = Result {
        let folder = FluxFixtures.url("tokenizers/clip-real")
        guard let vocabulary = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("vocab.json"))) as? [String: Int] else {
            throw CocoaError(.fileReadCorruptFile)
        }
        let merges = try CLIPTokenizer.parseMergesText(String(contentsOf: folder.appendingPathComponent("merges.txt"), encoding: .utf8), path: "merges.txt")
        return (try CLIPTokenizer(directory: folder), vocabulary, merges)
    }

    private func realCLIP() throws -> (CLIPTokenizer, [String: Int], [(String, String)]) { try Self.sharedCLIP.get() }

    /// The real CLIP vocabulary: long words of the kinds the fuzzer found slow give the reference's ids.
    func testRealCLIPLongWordsMatchTheReference() throws {
        let (tokenizer, vocabulary, merges) = try realCLIP()
        let words = [String(repeating: "a", count: 600), String(repeating: "ab", count: 250), String(repeating: "!?", count: 200),
                     "supercalifragilisticexpialidocious" + String(repeating: "xyz", count: 100)]
        for word in words {
            let bytes = ByteLevel.encode(Array(word.utf8))
            XCTAssertEqual(tokenizer.model.tokenize(word: bytes), Self.referenceMerge(bytes, vocabulary: vocabulary, merges: merges, suffix: "</w>"),
                           String(word.prefix(20)))
        }
    }

    /// The fuzzer's slow input: 4 096 letters without a space (the prompt limit). The quadratic loop needed
    /// 12.6 s for it in a release build (docs/reliability.md, "Fuzzing"); the heap merge takes ~0.25 s in this
    /// debug build. The bound sits between the two with 20× headroom, so a slow or busy machine does not trip
    /// it while a return to quadratic merging still does.
    func testLongestPromptWithoutSpacesTokenizesQuickly() throws {
        let (tokenizer, _, _) = try realCLIP()
        for prompt in [String(repeating: "a", count: 4_096), String(repeating: "qz", count: 2_048)] {
            let start = Date()
            let encoded = try tokenizer.encode(prompt, maxLength: 77)
            let seconds = Date().timeIntervalSince(start)
            XCTAssertEqual(encoded.ids.count, 77)
            XCTAssertLessThan(seconds, 5, "tokenizing a \(prompt.count)-character word took \(seconds) s")
        }
    }
}
