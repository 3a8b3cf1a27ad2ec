import Foundation
import XCTest
@testable import FluxModel

/// Tokenizers on hand-made vocabularies whose answers are worked out by hand.
final class TokenizerTests: XCTestCase {
    // MARK: CLIP byte-level BPE

    /// l o w e r</w>: (l,o) rank 0 → lo; (lo,w) rank 1 → low; (e,r</w>) rank 2 → er</w>; (lo,w</w>) rank 3 → low</w>.
    private func tinyCLIP(padToken: String = "<|endoftext|>") throws -> CLIPTokenizer {
        let vocab = ["<|startoftext|>": 0, "<|endoftext|>": 1, "l": 2, "o": 3, "w": 4, "w</w>": 5, "e": 6, "r": 7,
                     "r</w>": 8, "lo": 9, "low": 10, "er</w>": 11, "low</w>": 12, "!": 13]
        let merges = [("l", "o"), ("lo", "w"), ("e", "r</w>"), ("lo", "w</w>")]
        return try CLIPTokenizer(vocabulary: vocab, merges: merges, padToken: padToken)
    }

    func testBPEMergesByRankAndEndOfWord() throws {
        let tok = try tinyCLIP()
        XCTAssertEqual(tok.tokenize("lower"), [10, 11])
        XCTAssertEqual(tok.tokenize("low"), [12])
        // Lowercased, whitespace runs collapsed; "!" alone needs "!</w>", which is missing → unk (<|endoftext|>).
        XCTAssertEqual(tok.tokenize("  LOWER \t\n low !"), [10, 11, 12, 1])
        // "!" followed by letters is its own word: the punctuation run stops at the letter.
        XCTAssertEqual(tok.tokenize("!low"), [1, 12])
    }

    func testCLIPPaddingTruncationAndSpecialTokens() throws {
        let tok = try tinyCLIP()
        let padded = try tok.encode("lower low", maxLength: 6)
        XCTAssertEqual(padded.ids, [0, 10, 11, 12, 1, 1])
        XCTAssertEqual(padded.untruncated, [0, 10, 11, 12, 1])
        XCTAssertFalse(padded.wasTruncated)
        let cut = try tok.encode("lower low", maxLength: 3)
        XCTAssertEqual(cut.ids, [0, 10, 1])
        XCTAssertTrue(cut.wasTruncated)
        // Exactly at the limit is not a truncation.
        XCTAssertFalse(try tok.encode("lower low", maxLength: 5).wasTruncated)
        // Special tokens in the raw text are matched before lowercasing.
        XCTAssertEqual(tok.tokenize("low<|endoftext|>low"), [12, 1, 12])
        XCTAssertThrowsError(try tok.encode("low", maxLength: 1))
        // A different pad token (Stable Diffusion 2 style) pads with its own id.
        XCTAssertEqual(try tinyCLIP(padToken: "!").encode("low", maxLength: 5).ids, [0, 12, 1, 13, 13])
    }

    func testCLIPDecodeForWarnings() throws {
        let tok = try tinyCLIP()
        XCTAssertEqual(tok.decode([10, 11, 12]), "lower low")
        XCTAssertEqual(tok.decode([0, 12, 1]), "<|startoftext|>low <|endoftext|>")
        XCTAssertEqual(tok.decode([0, 12, 1], skipSpecialTokens: true), "low")
    }

    func testCLIPSplitRegex() {
        let pieces = CLIPTokenizer.clipSplit("it's 42 ½a!!?b <|endoftext|>".scalarArray).map { Array($0).string }
        XCTAssertEqual(pieces, ["it", "'s", "4", "2", "½", "a", "!!?", "b", "<|endoftext|>"])
        let gpt2 = ByteLevel.gpt2Split("<|endoftext|>".scalarArray).map { Array($0).string }
        XCTAssertEqual(gpt2, ["<|", "endoftext", "|>"])
    }

    func testCLIPFolderFilesAndErrors() throws {
        let dir = try temporaryDirectory()
        let vocab = #"{"<|startoftext|>": 0, "<|endoftext|>": 1, "l": 2, "o": 3, "w</w>": 4, "lo": 5, "low</w>": 6}"#
        try vocab.write(to: dir.appendingPathComponent("vocab.json"), atomically: true, encoding: .utf8)
        try "#version: 0.2\nl o\nlo w</w>\n".write(to: dir.appendingPathComponent("merges.txt"), atomically: true, encoding: .utf8)
        try #"{"model_max_length": 77, "pad_token": "<|endoftext|>"}"#
            .write(to: dir.appendingPathComponent("tokenizer_config.json"), atomically: true, encoding: .utf8)
        let tok = try CLIPTokenizer(directory: dir)
        XCTAssertEqual(tok.modelMaxLength, 77)
        XCTAssertEqual(try tok.encode("LOW", maxLength: 4).ids, [0, 6, 1, 1])

        try "#version: 0.2\nl o\nlo\n".write(to: dir.appendingPathComponent("merges.txt"), atomically: true, encoding: .utf8)
        assertTokenizerError(try CLIPTokenizer(directory: dir), contains: ["merges.txt", "line 3"])
        try "l o\nlo x\n".write(to: dir.appendingPathComponent("merges.txt"), atomically: true, encoding: .utf8)
        assertTokenizerError(try CLIPTokenizer(directory: dir), contains: ["vocab.json", "merges[1]", "\"x\""])
        try FileManager.default.removeItem(at: dir.appendingPathComponent("merges.txt"))
        assertTokenizerError(try CLIPTokenizer(directory: dir), contains: ["merges.txt", "not found"])
        try #"{"a": "zero"}"#.write(to: dir.appendingPathComponent("vocab.json"), atomically: true, encoding: .utf8)
        assertTokenizerError(try CLIPTokenizer(directory: dir), contains: ["vocab.json", "\"a\"", "integer"])
        try "{not json".write(to: dir.appendingPathComponent("vocab.json"), atomically: true, encoding: .utf8)
        assertTokenizerError(try CLIPTokenizer(directory: dir), contains: ["vocab.json", "not valid JSON"])
    }

    // MARK: Unigram

    /// tokenizers' documented example: best path abcd(10) + a(0) + cd(1), then "xx" is two unknowns fused.
    func testUnigramViterbiAndFusedUnknown() throws {
        let pieces: [(String, Double)] = [("<unk>", 0), ("a", 0), ("b", 0), ("c", 0), ("d", 0), ("cd", 1), ("ab", 2),
                                          ("abc", 5), ("abcd", 10)]
        let model = try UnigramModel(pieces: pieces, unknownID: 0, byteFallback: false, source: "test")
        XCTAssertEqual(try model.tokenize("abcdacdxx"), [8, 1, 5, 0])
        // Scores decide: abc(5)+d(0) = 5 beats ab(2)+cd(1) = 3.
        XCTAssertEqual(try model.tokenize("abcdd"), [8, 4])
        let noABCD = try UnigramModel(pieces: Array(pieces.dropLast()), unknownID: 0, byteFallback: false, source: "test")
        XCTAssertEqual(try noABCD.tokenize("abcd"), [7, 4])
        let low = try UnigramModel(pieces: [("<unk>", 0), ("a", -1), ("b", -1), ("ab", -3)], unknownID: 0,
                                   byteFallback: false, source: "test")
        XCTAssertEqual(try low.tokenize("ab"), [1, 2])   // −2 > −3
        XCTAssertEqual(try low.tokenize("é"), [0])
    }

    func testUnigramByteFallback() throws {
        var pieces: [(String, Double)] = [("<unk>", 0), ("a", -1)]
        for b in 0..<256 { pieces.append((String(format: "<0x%02X>", b), -5)) }
        let model = try UnigramModel(pieces: pieces, unknownID: 0, byteFallback: true, source: "test")
        // "é" is C3 A9 in UTF-8: two byte pieces, ids 2 + 0xC3 and 2 + 0xA9.
        XCTAssertEqual(try model.tokenize("aéa"), [1, 2 + 0xC3, 2 + 0xA9, 1])
    }

    // MARK: Precompiled charsmap

    /// A darts-clone trie with the single key "a" → "XY" (built by hand: root offset 1, node 1^0x61 = 96).
    static func tinyCharsMap() -> [UInt8] {
        var units = [UInt32](repeating: 0, count: 256)
        units[0] = 1 << 10
        units[96] = 0x61 | (1 << 8) | (1 << 10)
        units[97] = 0
        var bytes: [UInt8] = withUnsafeBytes(of: UInt32(units.count * 4).littleEndian) { Array($0) }
        for u in units { bytes += withUnsafeBytes(of: u.littleEndian) { Array($0) } }
        return bytes + Array("XY".utf8) + [0]
    }

    func testPrecompiledCharsMapMatchesReferenceQuirks() throws {
        let map = try PrecompiledCharsMap(bytes: Self.tinyCharsMap())
        // Values checked against tokenizers' normalizers.Precompiled on the same bytes.
        XCTAssertEqual(map.normalize("cab"), "cXYb")
        XCTAssertEqual(map.normalize("Ça va"), "ÇXY vXY")
        XCTAssertEqual(map.normalize("a\u{301}"), "XY")       // shortest prefix replaces the whole grapheme
        XCTAssertEqual(map.normalize("\u{E1}"), "\u{E1}")      // precomposed á has no entry
        XCTAssertEqual(map.normalize(""), "")
        XCTAssertThrowsError(try PrecompiledCharsMap(bytes: [0xFF, 0, 0, 0, 1, 2])) { error in
            XCTAssertTrue("\(error)".contains("trie size"), "\(error)")
        }
    }

    // MARK: T5 tokenizer.json

    private func t5JSON(normalizer: String = "null", extra: String = "") -> String {
        """
        {"version": "1.0", "truncation": null, "padding": null,
         "added_tokens": [
           {"id": 0, "content": "<pad>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
           {"id": 1, "content": "</s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
           {"id": 2, "content": "<unk>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}],
         "normalizer": \(normalizer),
         "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "WhitespaceSplit"},
                           {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true}]},
         "post_processor": {"type": "TemplateProcessing",
             "single": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
             "pair": [], "special_tokens": {"</s>": {"id": "</s>", "ids": [1], "tokens": ["</s>"]}}},
         "decoder": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true},
         "model": {"type": "Unigram", "unk_id": 2, "byte_fallback": false, "vocab": [
           ["<pad>", 0.0], ["</s>", 0.0], ["<unk>", 0.0], ["▁", -2.0], ["▁a", -1.0], ["▁cat", -1.5], ["c", -3.0],
           ["a", -3.0], ["t", -3.0], ["▁ca", -2.5], ["s", -3.0]\(extra)]}}
        """
    }

    private func writeT5(_ json: String) throws -> URL {
        let dir = try temporaryDirectory()
        try json.write(to: dir.appendingPathComponent("tokenizer.json"), atomically: true, encoding: .utf8)
        return dir
    }

    func testT5MetaspaceTemplatePaddingTruncation() throws {
        let tok = try T5Tokenizer(directory: try writeT5(t5JSON()))
        // "▁cat" (−1.5) beats "▁ca"+"t" (−5.5); "▁cats" → ▁cat + s; "▁x" → ▁ + unk.
        XCTAssertEqual(try tok.tokenize("a cat"), [4, 5])
        XCTAssertEqual(try tok.tokenize("  cats\t x"), [5, 10, 3, 2])
        XCTAssertEqual(try tok.tokenize("a</s>cat"), [4, 1, 5])
        let enc = try tok.encode("a cat", maxLength: 6)
        XCTAssertEqual(enc.ids, [4, 5, 1, 0, 0, 0])
        XCTAssertEqual(enc.untruncated, [4, 5, 1])
        let cut = try tok.encode("a cat a cat", maxLength: 3)
        XCTAssertEqual(cut.ids, [4, 5, 1])
        XCTAssertTrue(cut.wasTruncated)
        XCTAssertEqual(tok.decode([4, 5, 4]), "a cat a")
        XCTAssertEqual(try tok.encode("", maxLength: 2).ids, [1, 0])
    }

    func testT5PrecompiledAndReplaceNormalizers() throws {
        let charsmap = Data(Self.tinyCharsMap()).base64EncodedString()
        let normalizer = """
        {"type": "Sequence", "normalizers": [{"type": "Precompiled", "precompiled_charsmap": "\(charsmap)"},
          {"type": "Strip", "strip_left": false, "strip_right": true},
          {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": "▁"}]}
        """
        let tok = try T5Tokenizer(directory: try writeT5(t5JSON(normalizer: normalizer, extra: #", ["XY", -1.0], ["▁XY", -0.5]"#)))
        // "a" → "XY" by the charsmap, so "a" now tokenises as ▁XY (id 12).
        XCTAssertEqual(try tok.tokenize("a"), [12])
        // "ca" → "cXY" → "▁cXY": no "▁c" piece, so ▁ + c + XY.
        XCTAssertEqual(try tok.tokenize("ca  "), [3, 6, 11])
        let replace = try TextNormalizer.parse(TokenizerJSON(path: "t", object: [
            "type": "Replace", "pattern": ["Regex": " {2,}"], "content": "\u{2581}"]))
        XCTAssertEqual(replace.apply("a  b c   d".scalarArray).string, "a\u{2581}b c\u{2581}d")
        let strip = try TextNormalizer.parse(TokenizerJSON(path: "t", object: ["type": "Strip", "strip_left": false, "strip_right": true]))
        XCTAssertEqual(strip.apply(" a \t".scalarArray).string, " a")
    }

    func testMalformedT5FilesNameFileAndField() throws {
        assertTokenizerError(try T5Tokenizer(directory: try temporaryDirectory()), contains: ["tokenizer.json", "not found"])
        assertTokenizerError(try T5Tokenizer(directory: try writeT5(t5JSON().replacingOccurrences(of: #""vocab": ["#, with: #""vocab_": ["#))),
                             contains: ["tokenizer.json", "model.vocab", "missing"])
        assertTokenizerError(try T5Tokenizer(directory: try writeT5(t5JSON(extra: #", ["bad"]"#))),
                             contains: ["tokenizer.json", "model.vocab[11]"])
        assertTokenizerError(try T5Tokenizer(directory: try writeT5(t5JSON(normalizer: #"{"type": "BertNormalizer"}"#))),
                             contains: ["tokenizer.json", "normalizer.type", "BertNormalizer"])
        assertTokenizerError(try T5Tokenizer(directory: try writeT5(t5JSON(normalizer: #"{"type": "Precompiled", "precompiled_charsmap": "!!"}"#))),
                             contains: ["tokenizer.json", "precompiled_charsmap", "base64"])
        assertTokenizerError(try T5Tokenizer(directory: try writeT5(t5JSON().replacingOccurrences(of: #""unk_id": 2"#, with: #""unk_id": 99"#))),
                             contains: ["tokenizer.json", "model.unk_id"])
        assertTokenizerError(try T5Tokenizer(directory: try writeT5(t5JSON().replacingOccurrences(of: #""prepend_scheme": "always", "split": true}]}"#, with: #""prepend_scheme": "sometimes"}]}"#))),
                             contains: ["tokenizer.json", "pre_tokenizer.pretokenizers[1].prepend_scheme"])
    }

    func testPythonReprOfRemovedText() {
        XCTAssertEqual(PythonRepr.list(["a cat", "it's"]), #"['a cat', "it's"]"#)
        XCTAssertEqual(PythonRepr.string("tab\tnl\n\u{200B}"), #"'tab\tnl\n\u200b'"#)
    }

    // MARK: helpers

    private func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ternflux-tok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }
}

func assertTokenizerError<T>(_ expression: @autoclosure () throws -> T, contains parts: [String],
                             file: StaticString = #filePath, line: UInt = #line) {
    do {
        _ = try expression()
        XCTFail("expected an error mentioning \(parts)", file: file, line: line)
    } catch {
        let text = "\(error)"
        for part in parts where !text.contains(part) {
            XCTFail("error \(text.debugDescription) does not mention \(part.debugDescription)", file: file, line: line)
        }
    }
}
