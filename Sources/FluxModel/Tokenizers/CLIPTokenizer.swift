import Foundation

/// CLIP's byte-level BPE tokenizer, giving the ids of transformers' `CLIPTokenizer`:
/// NFC → whitespace runs to one space → lowercase → CLIP's split regex → byte-level alphabet → BPE with
/// `</w>` ending each word; `<|startoftext|>` … `<|endoftext|>` around the content; padding on the right.
public final class CLIPTokenizer: @unchecked Sendable {
    public let model: BPEModel
    public let bosID: Int
    public let eosID: Int
    public let padID: Int
    /// `model_max_length` from tokenizer_config.json when it is a real limit (not transformers' "no limit" 1e30).
    public let modelMaxLength: Int?
    let addedTokens: [AddedToken]
    private let matcher: AddedTokenMatcher
    private let specialIDs: Set<Int>

    public static let defaultBOS = "<|startoftext|>"
    public static let defaultEOS = "<|endoftext|>"

    public init(vocabulary: [String: Int], merges: [(String, String)], bosToken: String = defaultBOS,
                eosToken: String = defaultEOS, unknownToken: String = defaultEOS, padToken: String = defaultEOS,
                addedTokens: [AddedToken]? = nil, modelMaxLength: Int? = nil, source: String = "(in memory)") throws {
        model = try BPEModel(vocabulary: vocabulary, merges: merges, endOfWordSuffix: "</w>",
                             unknownToken: unknownToken, source: source)
        func id(_ token: String, _ field: String) throws -> Int {
            if let added = addedTokens?.first(where: { $0.content == token }) { return added.id }
            guard let v = vocabulary[token] else {
                throw TokenizerError.malformed(path: source, field: field, reason: "\(token.debugDescription) is not in the vocabulary")
            }
            return v
        }
        bosID = try id(bosToken, "bos_token")
        eosID = try id(eosToken, "eos_token")
        padID = try id(padToken, "pad_token")
        // transformers registers bos/eos/unk/pad as special added tokens (matched before normalisation).
        var added = addedTokens ?? []
        for (token, field) in [(bosToken, "bos_token"), (eosToken, "eos_token"), (unknownToken, "unk_token"), (padToken, "pad_token")]
        where !added.contains(where: { $0.content == token }) {
            added.append(AddedToken(content: token, id: try id(token, field)))
        }
        self.addedTokens = added
        matcher = AddedTokenMatcher(added)
        specialIDs = Set(added.filter(\.special).map(\.id))
        self.modelMaxLength = modelMaxLength
    }

    /// Loads a tokenizer folder: `tokenizer.json`, or `vocab.json` + `merges.txt`; `tokenizer_config.json` and
    /// `special_tokens_map.json` (when present) give the special tokens and `model_max_length`.
    public convenience init(directory: URL) throws {
        let config = try TokenizerConfigFiles(directory: directory)
        let tokenizerJSON = directory.appendingPathComponent("tokenizer.json")
        if FileManager.default.fileExists(atPath: tokenizerJSON.path) {
            let root = try TokenizerJSON.load(tokenizerJSON)
            let model = try root.object("model")
            let type = try model.optionalString("type") ?? "BPE"
            guard type == "BPE" else {
                throw TokenizerError.unsupported(path: root.path, field: "model.type", value: type)
            }
            if let prefix = try model.optionalString("continuing_subword_prefix"), !prefix.isEmpty {
                throw TokenizerError.unsupported(path: root.path, field: "model.continuing_subword_prefix", value: prefix)
            }
            let suffix = try model.optionalString("end_of_word_suffix") ?? ""
            guard suffix == "</w>" else {
                throw TokenizerError.unsupported(path: root.path, field: "model.end_of_word_suffix", value: suffix.debugDescription)
            }
            let vocab = try Self.parseVocabulary(try model.raw("vocab"), path: root.path, field: "model.vocab")
            let merges = try Self.parseMergeList(try model.array("merges"), path: root.path)
            let added = root.has("added_tokens") ? try root.objects("added_tokens").map(AddedToken.parse) : []
            let unk = try model.optionalString("unk_token") ?? config.unk ?? Self.defaultEOS
            try self.init(vocabulary: vocab, merges: merges, bosToken: config.bos ?? Self.defaultBOS,
                          eosToken: config.eos ?? Self.defaultEOS, unknownToken: unk,
                          padToken: config.pad ?? Self.defaultEOS, addedTokens: added,
                          modelMaxLength: config.modelMaxLength, source: root.path)
        } else {
            let vocabURL = directory.appendingPathComponent("vocab.json")
            let mergesURL = directory.appendingPathComponent("merges.txt")
            let vocabRoot = try TokenizerJSON.load(vocabURL)
            let vocab = try Self.parseVocabulary(vocabRoot.object, path: vocabURL.path, field: "(root)")
            guard FileManager.default.fileExists(atPath: mergesURL.path) else { throw TokenizerError.missingFile(path: mergesURL.path) }
            let text: String
            do { text = try String(contentsOf: mergesURL, encoding: .utf8) } catch {
                throw TokenizerError.unreadable(path: mergesURL.path, reason: "\(error)")
            }
            let merges = try Self.parseMergesText(text, path: mergesURL.path)
            try self.init(vocabulary: vocab, merges: merges, bosToken: config.bos ?? Self.defaultBOS,
                          eosToken: config.eos ?? Self.defaultEOS, unknownToken: config.unk ?? Self.defaultEOS,
                          padToken: config.pad ?? Self.defaultEOS, addedTokens: config.addedTokens,
                          modelMaxLength: config.modelMaxLength, source: vocabURL.path)
        }
    }

    /// Builds the tokenizer from open_clip's `bpe_simple_vocab_16e6.txt.gz` exactly as OpenAI's CLIP does:
    /// the first 48 894 merges, vocabulary = 256 byte characters, the same with `</w>`, the merged pairs, then
    /// `<|startoftext|>` and `<|endoftext|>` (49 408 tokens).
    public convenience init(openCLIPVocabulary url: URL, modelMaxLength: Int = 77) throws {
        let data = try TokenizerGzip.decompress(url)
        guard let text = String(data: data, encoding: .utf8) else {
            throw TokenizerError.unreadable(path: url.path, reason: "not UTF-8 text")
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let mergeCount = 49152 - 256 - 2
        guard lines.count > mergeCount else {
            throw TokenizerError.malformed(path: url.path, field: "(lines)", reason: "expected at least \(mergeCount + 1) lines, found \(lines.count)")
        }
        var merges: [(String, String)] = []
        merges.reserveCapacity(mergeCount)
        for (i, line) in lines[1...mergeCount].enumerated() {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count == 2 else {
                throw TokenizerError.malformed(path: url.path, field: "line \(i + 2)", reason: "expected two space-separated symbols")
            }
            merges.append((String(parts[0]), String(parts[1])))
        }
        var tokens: [String] = ByteLevel.vocabularyOrder.map { String(ByteLevel.byteToScalar[Int($0)]) }
        tokens += tokens.map { $0 + "</w>" }
        tokens += merges.map { $0.0 + $0.1 }
        tokens += [Self.defaultBOS, Self.defaultEOS]
        var vocab: [String: Int] = [:]
        for (i, t) in tokens.enumerated() { vocab[t] = i }
        try self.init(vocabulary: vocab, merges: merges, modelMaxLength: modelMaxLength, source: url.path)
    }

    // MARK: Encoding

    /// Content token ids of `text`, without special tokens.
    public func tokenize(_ text: String) -> [Int] {
        var ids: [Int] = []
        for segment in matcher.split(text.scalarArray) {
            switch segment {
            case .token(let id): ids.append(id)
            case .text(let scalars): appendContent(scalars, to: &ids)
            }
        }
        return ids
    }

    /// `<|startoftext|>` + content + `<|endoftext|>`, truncated and padded to `maxLength`.
    public func encode(_ text: String, maxLength: Int) throws -> TokenizedPrompt {
        try SequenceLayout.build(content: tokenize(text), prefix: [bosID], suffix: [eosID], maxLength: maxLength, padID: padID)
    }

    /// Text of ids as transformers' `decode` (special tokens kept): byte-level decoding, `</w>` → space, trimmed.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        var joined = ""
        for id in ids {
            if skipSpecialTokens && specialIDs.contains(id) { continue }
            if let added = addedTokens.first(where: { $0.id == id }) { joined += added.content; continue }
            if let token = model.token(for: id) { joined += token }
        }
        let text = String(decoding: ByteLevel.decode(joined), as: UTF8.self)
        return text.replacingOccurrences(of: "</w>", with: " ").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func appendContent(_ raw: [Unicode.Scalar], to ids: inout [Int]) {
        let nfc = raw.string.precomposedStringWithCanonicalMapping.scalarArray
        var collapsed: [Unicode.Scalar] = []
        collapsed.reserveCapacity(nfc.count)
        var inWhitespaceRun = false
        for s in nfc {
            if UnicodeClass.isWhitespace(s) {
                if !inWhitespaceRun { collapsed.append(" ") }
                inWhitespaceRun = true
            } else {
                collapsed.append(s)
                inWhitespaceRun = false
            }
        }
        let text = UnicodeClass.lowercased(collapsed)
        for piece in Self.clipSplit(text) {
            for word in ByteLevel.gpt2Split(Array(piece)) {
                ids += model.tokenize(word: ByteLevel.encode(Array(word).string.utf8))
            }
        }
    }

    /// CLIP's pre-tokenisation regex, keeping the matches:
    /// `<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`.
    static func clipSplit(_ s: [Unicode.Scalar]) -> [ArraySlice<Unicode.Scalar>] {
        let specials: [[Unicode.Scalar]] = [defaultBOS.scalarArray, defaultEOS.scalarArray]
        var pieces: [ArraySlice<Unicode.Scalar>] = []
        var i = 0
        let n = s.count
        outer: while i < n {
            for special in specials where n - i >= special.count && s[i] == "<" && Array(s[i..<(i + special.count)]) == special {
                pieces.append(s[i..<(i + special.count)]); i += special.count; continue outer
            }
            if let len = ByteLevel.contractionLength(s, i) {
                pieces.append(s[i..<(i + len)]); i += len; continue
            }
            let c = s[i]
            if UnicodeClass.isLetter(c) {
                var k = i + 1
                while k < n, UnicodeClass.isLetter(s[k]) { k += 1 }
                pieces.append(s[i..<k]); i = k
            } else if UnicodeClass.isNumber(c) {
                pieces.append(s[i..<(i + 1)]); i += 1
            } else if !UnicodeClass.isWhitespace(c) {
                var k = i + 1
                while k < n, !UnicodeClass.isWhitespace(s[k]), !UnicodeClass.isLetter(s[k]), !UnicodeClass.isNumber(s[k]) { k += 1 }
                pieces.append(s[i..<k]); i = k
            } else {
                i += 1
            }
        }
        return pieces
    }

    // MARK: File parsing

    static func parseVocabulary(_ value: Any, path: String, field: String) throws -> [String: Int] {
        guard let dict = value as? [String: Any] else {
            throw TokenizerError.malformed(path: path, field: field, reason: "expected an object mapping tokens to ids")
        }
        var vocab: [String: Int] = [:]
        vocab.reserveCapacity(dict.count)
        for (token, idValue) in dict {
            guard let n = idValue as? NSNumber, n.doubleValue == n.doubleValue.rounded(), n.intValue >= 0 else {
                throw TokenizerError.malformed(path: path, field: "\(field)[\(token.debugDescription)]", reason: "expected a non-negative integer id")
            }
            vocab[token] = n.intValue
        }
        if vocab.isEmpty { throw TokenizerError.malformed(path: path, field: field, reason: "vocabulary is empty") }
        return vocab
    }

    static func parseMergesText(_ text: String, path: String) throws -> [(String, String)] {
        var merges: [(String, String)] = []
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.hasSuffix("\r") ? line.dropLast() : line[...]
            if trimmed.isEmpty || (i == 0 && trimmed.hasPrefix("#version")) { continue }
            let parts = trimmed.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count == 2 else {
                throw TokenizerError.malformed(path: path, field: "line \(i + 1)", reason: "expected two space-separated symbols, got \(String(trimmed).debugDescription)")
            }
            merges.append((String(parts[0]), String(parts[1])))
        }
        return merges
    }

    static func parseMergeList(_ items: [Any], path: String) throws -> [(String, String)] {
        try items.enumerated().map { i, item in
            if let s = item as? String {
                let parts = s.split(separator: " ", omittingEmptySubsequences: true)
                guard parts.count == 2 else {
                    throw TokenizerError.malformed(path: path, field: "model.merges[\(i)]", reason: "expected \"a b\", got \(s.debugDescription)")
                }
                return (String(parts[0]), String(parts[1]))
            }
            if let pair = item as? [Any], pair.count == 2, let a = pair[0] as? String, let b = pair[1] as? String {
                return (a, b)
            }
            throw TokenizerError.malformed(path: path, field: "model.merges[\(i)]", reason: "expected a string \"a b\" or a pair of strings")
        }
    }
}

/// The transformers side files of a tokenizer folder: special tokens and `model_max_length`.
struct TokenizerConfigFiles {
    var bos: String?
    var eos: String?
    var unk: String?
    var pad: String?
    var modelMaxLength: Int?
    var addedTokens: [AddedToken]?

    init(directory: URL) throws {
        let fm = FileManager.default
        let mapURL = directory.appendingPathComponent("special_tokens_map.json")
        if fm.fileExists(atPath: mapURL.path) {
            let map = try TokenizerJSON.load(mapURL)
            bos = try Self.token(map, "bos_token")
            eos = try Self.token(map, "eos_token")
            unk = try Self.token(map, "unk_token")
            pad = try Self.token(map, "pad_token")
        }
        let configURL = directory.appendingPathComponent("tokenizer_config.json")
        if fm.fileExists(atPath: configURL.path) {
            let config = try TokenizerJSON.load(configURL)
            bos = try Self.token(config, "bos_token") ?? bos
            eos = try Self.token(config, "eos_token") ?? eos
            unk = try Self.token(config, "unk_token") ?? unk
            pad = try Self.token(config, "pad_token") ?? pad
            if config.has("model_max_length") {
                guard let n = config.object["model_max_length"] as? NSNumber else {
                    throw config.error("model_max_length", "expected a number")
                }
                // transformers writes 1e30 (VERY_LARGE_INTEGER) for "no limit".
                let v = n.doubleValue
                guard v >= 1, v == v.rounded() else { throw config.error("model_max_length", "expected a positive integer, got \(n)") }
                modelMaxLength = v < 1e12 ? Int(v) : nil
            }
            if config.has("added_tokens_decoder") {
                let decoder = try config.object("added_tokens_decoder")
                var tokens: [AddedToken] = []
                for key in decoder.object.keys.sorted() {
                    guard let id = Int(key) else { throw decoder.error(key, "key is not an integer id") }
                    var entry = try decoder.object(key)
                    entry = TokenizerJSON(path: entry.path, field: entry.field, object: entry.object.merging(["id": id]) { a, _ in a })
                    tokens.append(try AddedToken.parse(entry))
                }
                addedTokens = tokens
            }
        }
    }

    /// A special token given as a string or as `{"content": ...}`.
    static func token(_ f: TokenizerJSON, _ key: String) throws -> String? {
        guard f.has(key) else { return nil }
        if let s = f.object[key] as? String { return s }
        if let o = f.object[key] as? [String: Any] {
            return try TokenizerJSON(path: f.path, field: f.name(key), object: o).string("content")
        }
        throw f.error(key, "expected a string or an object with `content`")
    }
}
