import Foundation
import XCTest
@testable import FluxModel

/// Where the committed reference data lives (Tests/Fixtures, see its README).
enum TextFixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    static func entries(_ name: String) throws -> [[String: Any]] {
        let data = try Data(contentsOf: root.appendingPathComponent("expected/\(name)"))
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        return try XCTUnwrap(object?["entries"] as? [[String: Any]], "\(name) has no entries")
    }
}

/// Both tokenizers against the Hugging Face ids on the fixtures' 371 strings.
final class TokenizerParityTests: XCTestCase {
    func testRealCLIPVocabularyMatchesTransformers() throws {
        let tokenizer = try CLIPTokenizer(directory: TextFixtures.root.appendingPathComponent("tokenizers/clip-real"))
        XCTAssertEqual(try tokenizer.encode("a photo of a cat", maxLength: 77).untruncated,
                       [49406, 320, 1125, 539, 320, 2368, 49407])
        let entries = try TextFixtures.entries("clip_tokens.json")
        XCTAssertGreaterThanOrEqual(entries.count, 300)
        var mismatches: [String] = []
        var truncated = 0
        for entry in entries {
            let text = try XCTUnwrap(entry["text"] as? String)
            let expected = try XCTUnwrap(entry["ids"] as? [Int])
            let length = try XCTUnwrap(entry["untruncated_length"] as? Int)
            let result = try tokenizer.encode(text, maxLength: 77)
            if result.ids != expected || result.untruncated.count != length {
                mismatches.append("\(text.debugDescription): got \(result.ids.prefix(12))…, expected \(expected.prefix(12))…")
            }
            if result.wasTruncated { truncated += 1 }
        }
        XCTAssertEqual(mismatches, [], "\(mismatches.count) of \(entries.count) strings differ")
        XCTAssertEqual(truncated, entries.filter { ($0["untruncated_length"] as? Int ?? 0) > 77 }.count)
    }

    func testTinyFluxCLIPFolderLoads() throws {
        let tokenizer = try CLIPTokenizer(directory: TextFixtures.root.appendingPathComponent("tiny-flux/tokenizer"))
        XCTAssertEqual(tokenizer.modelMaxLength, 77)
        XCTAssertEqual(tokenizer.bosID, 2512)
        XCTAssertEqual(tokenizer.eosID, 2513)
        XCTAssertEqual(tokenizer.padID, 2513)
    }

    func testT5UnigramMatchesTokenizerJSON() throws {
        let tokenizer = try T5Tokenizer(directory: TextFixtures.root.appendingPathComponent("tiny-flux/tokenizer_2"))
        XCTAssertEqual(tokenizer.modelMaxLength, 512)
        let entries = try TextFixtures.entries("t5_tokens.json")
        XCTAssertGreaterThanOrEqual(entries.count, 300)
        var mismatches: [String] = []
        for entry in entries {
            let text = try XCTUnwrap(entry["text"] as? String)
            let length = try XCTUnwrap(entry["untruncated_length"] as? Int)
            for n in [64, 512] {
                let expected = try XCTUnwrap(entry["ids_\(n)"] as? [Int])
                let result = try tokenizer.encode(text, maxLength: n)
                if result.ids != expected || result.untruncated.count != length {
                    mismatches.append("\(n) \(text.debugDescription): got \(result.untruncated.prefix(16)), expected \(expected.prefix(16))")
                }
            }
        }
        XCTAssertEqual(mismatches, [], "\(mismatches.count) differ")
    }
}

extension TokenizerParityTests {
    /// open_clip's `bpe_simple_vocab_16e6.txt.gz` layout (a header line, then merges), written from the fixture's
    /// merges.txt: the vocabulary built from it must give the same ids as the vocab.json folder.
    func testOpenCLIPGzipVocabularyBuildsTheSameTokenizer() throws {
        let folder = TextFixtures.root.appendingPathComponent("tokenizers/clip-real")
        let merges = try String(contentsOf: folder.appendingPathComponent("merges.txt"), encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: false).dropFirst()
        // The real file has more merge lines than CLIP uses; pad with unused ones to check they are ignored.
        let text = "\"bpe_simple_vocab_16e6.txt#version: 0.2\n" + merges.prefix(48894).joined(separator: "\n") + "\nq z\nz q\n"
        let gz = FileManager.default.temporaryDirectory.appendingPathComponent("bpe-\(UUID().uuidString).txt.gz")
        defer { try? FileManager.default.removeItem(at: gz) }
        try TokenizerGzip.writeForTesting(Array(text.utf8), to: gz)
        let fromGzip = try CLIPTokenizer(openCLIPVocabulary: gz)
        let fromFolder = try CLIPTokenizer(directory: folder)
        XCTAssertEqual(fromGzip.model.vocabulary.count, 49408)
        XCTAssertEqual(fromGzip.bosID, 49406)
        XCTAssertEqual(fromGzip.eosID, 49407)
        XCTAssertEqual(fromGzip.model.vocabulary, fromFolder.model.vocabulary)
        for text in ["a photo of a cat", "Ünïcödé café 東京 🙂 it's 42!!", "supercalifragilisticexpialidocious"] {
            XCTAssertEqual(try fromGzip.encode(text, maxLength: 77), try fromFolder.encode(text, maxLength: 77), text)
        }
        try Data([0x1f, 0x8b, 0x08, 0x00, 0x01]).write(to: gz)
        assertTokenizerError(try CLIPTokenizer(openCLIPVocabulary: gz), contains: [gz.lastPathComponent, "gzip"])
    }
}
