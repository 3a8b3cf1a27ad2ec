import Foundation

/// T5's SentencePiece Unigram tokenizer loaded from a `tokenizer.json`, giving the ids of transformers'
/// `T5TokenizerFast`: added tokens split out of the raw text, normaliser (Precompiled charsmap, Strip,
/// Replace…), pre-tokeniser (WhitespaceSplit, Metaspace `▁`), Viterbi over the piece scores, then the
/// `TemplateProcessing` special tokens (`$A </s>`), truncation and right padding.
public final class T5Tokenizer: @unchecked Sendable {
    public let model: UnigramModel
    public let padID: Int
    public let eosID: Int?
    /// `model_max_length` from tokenizer_config.json when it is a real limit.
    public let modelMaxLength: Int?
    let prefixIDs: [Int]
    let suffixIDs: [Int]
    let addedTokens: [AddedToken]
    private let rawMatcher: AddedTokenMatcher
    private let normalizedMatcher: AddedTokenMatcher
    private let normalizer: TextNormalizer?
    private let preTokenizer: TextPreTokenizer?
    private let metaspaceDecoder: (replacement: Unicode.Scalar, stripFirst: Bool)?
    private let cleanUpSpaces: Bool
    private let specialIDs: Set<Int>

    /// Loads `tokenizer.json` (required) and `tokenizer_config.json` / `special_tokens_map.json` when present.
    public convenience init(directory: URL) throws {
        let config = try TokenizerConfigFiles(directory: directory)
        let root = try TokenizerJSON.load(directory.appendingPathComponent("tokenizer.json"))
        var cleanUp = false
        let configURL = directory.appendingPathComponent("tokenizer_config.json")
        if FileManager.default.fileExists(atPath: configURL.path) {
            cleanUp = try TokenizerJSON.load(configURL).bool("clean_up_tokenization_spaces", default: false)
        }
        try self.init(tokenizerJSON: root, padToken: config.pad, modelMaxLength: config.modelMaxLength, cleanUpTokenizationSpaces: cleanUp)
    }

    public convenience init(tokenizerFile url: URL, padToken: String? = nil, modelMaxLength: Int? = nil) throws {
        try self.init(tokenizerJSON: try TokenizerJSON.load(url), padToken: padToken, modelMaxLength: modelMaxLength,
                      cleanUpTokenizationSpaces: false)
    }

    init(tokenizerJSON root: TokenizerJSON, padToken: String?, modelMaxLength: Int?, cleanUpTokenizationSpaces: Bool) throws {
        let path = root.path
        let modelFields = try root.object("model")
        let type = try modelFields.optionalString("type") ?? "Unigram"
        guard type == "Unigram" else { throw TokenizerError.unsupported(path: path, field: "model.type", value: type) }
        let vocabItems = try modelFields.array("vocab")
        var pieces: [(String, Double)] = []
        pieces.reserveCapacity(vocabItems.count)
        for (i, item) in vocabItems.enumerated() {
            guard let pair = item as? [Any], pair.count == 2, let piece = pair[0] as? String, let score = pair[1] as? NSNumber else {
                throw TokenizerError.malformed(path: path, field: "model.vocab[\(i)]", reason: "expected [piece, score]")
            }
            pieces.append((piece, score.doubleValue))
        }
        let unigram = try UnigramModel(pieces: pieces, unknownID: try modelFields.optionalInt("unk_id"),
                                 byteFallback: try modelFields.bool("byte_fallback", default: false), source: path)

        let added = root.has("added_tokens") ? try root.objects("added_tokens").map(AddedToken.parse) : []
        for (i, token) in added.enumerated() where token.id < 0 {
            throw TokenizerError.malformed(path: path, field: "added_tokens[\(i)].id", reason: "negative id \(token.id)")
        }
        model = unigram
        addedTokens = added
        rawMatcher = AddedTokenMatcher(addedTokens.filter { !$0.normalized })
        normalizedMatcher = AddedTokenMatcher(addedTokens.filter { $0.normalized })
        specialIDs = Set(addedTokens.filter(\.special).map(\.id))

        normalizer = try root.optionalObject("normalizer").map(TextNormalizer.parse)
        preTokenizer = try root.optionalObject("pre_tokenizer").map(TextPreTokenizer.parse)

        func idOf(_ token: String, field: String) throws -> Int {
            if let match = added.first(where: { $0.content == token }) { return match.id }
            guard let id = unigram.id(of: token) else {
                throw TokenizerError.malformed(path: path, field: field, reason: "token \(token.debugDescription) is not in the vocabulary")
            }
            return id
        }

        var prefix: [Int] = [], suffix: [Int] = []
        if let post = try root.optionalObject("post_processor") {
            let postType = try post.string("type")
            switch postType {
            case "TemplateProcessing":
                let specials = try post.optionalObject("special_tokens")
                var seenSequence = false
                for (i, item) in try post.objects("single").enumerated() {
                    if item.has("Sequence") {
                        guard !seenSequence else { throw item.error("Sequence", "the single template has more than one sequence") }
                        seenSequence = true
                    } else if item.has("SpecialToken") {
                        let name = try item.object("SpecialToken").string("id")
                        let ids: [Int]
                        if let specials, specials.has(name) {
                            ids = try specials.object(name).array("ids").enumerated().map { j, v in
                                guard let n = v as? NSNumber else {
                                    throw specials.error("\(name).ids[\(j)]", "expected an integer id")
                                }
                                return n.intValue
                            }
                        } else {
                            ids = [try idOf(name, field: "post_processor.single[\(i)]")]
                        }
                        if seenSequence { suffix += ids } else { prefix += ids }
                    } else {
                        throw post.error("single[\(i)]", "expected a Sequence or a SpecialToken item")
                    }
                }
                guard seenSequence else { throw post.error("single", "the template has no $A sequence") }
            default:
                throw TokenizerError.unsupported(path: path, field: "post_processor.type", value: postType)
            }
        }
        prefixIDs = prefix
        suffixIDs = suffix
        eosID = added.first(where: { $0.content == "</s>" })?.id ?? unigram.id(of: "</s>")

        if let padToken {
            padID = try idOf(padToken, field: "pad_token")
        } else if let padding = try root.optionalObject("padding"), padding.has("pad_id") {
            padID = try padding.int("pad_id")
        } else {
            padID = try idOf("<pad>", field: "pad_token")
        }
        self.modelMaxLength = modelMaxLength

        if let decoder = try root.optionalObject("decoder"), try decoder.string("type") == "Metaspace" {
            let r = (try decoder.optionalString("replacement") ?? "\u{2581}").scalarArray
            guard r.count == 1 else { throw decoder.error("replacement", "expected exactly one character") }
            let scheme = try decoder.optionalString("prepend_scheme")
                ?? (try decoder.bool("add_prefix_space", default: true) ? "always" : "never")
            metaspaceDecoder = (r[0], scheme != "never")
        } else {
            metaspaceDecoder = nil
        }
        cleanUpSpaces = cleanUpTokenizationSpaces
    }

    // MARK: Encoding

    /// Content ids of `text` (no template tokens).
    public func tokenize(_ text: String) throws -> [Int] {
        var ids: [Int] = []
        var offset = 0
        for segment in rawMatcher.split(text.scalarArray) {
            switch segment {
            case .token(let id):
                ids.append(id)
                offset += 1
            case .text(let raw):
                let startsInput = offset == 0
                offset += raw.count
                let normalized = normalizer?.apply(raw) ?? raw
                for inner in normalizedMatcher.split(normalized) {
                    switch inner {
                    case .token(let id): ids.append(id)
                    case .text(let scalars):
                        var pieces = [TextPreTokenizer.Piece(scalars: scalars, atStart: startsInput)]
                        if let preTokenizer { pieces = preTokenizer.apply(pieces) }
                        for piece in pieces where !piece.scalars.isEmpty {
                            ids += try model.tokenize(piece.scalars.string)
                        }
                    }
                }
            }
        }
        return ids
    }

    /// Template tokens around the content, truncated and right-padded to `maxLength`.
    public func encode(_ text: String, maxLength: Int) throws -> TokenizedPrompt {
        try SequenceLayout.build(content: tokenize(text), prefix: prefixIDs, suffix: suffixIDs, maxLength: maxLength, padID: padID)
    }

    /// Text of ids as transformers' `decode` with special tokens kept (Metaspace decoding, optional clean-up).
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        var tokens: [String] = []
        for id in ids {
            if skipSpecialTokens && specialIDs.contains(id) { continue }
            if let added = addedTokens.first(where: { $0.id == id }) { tokens.append(added.content); continue }
            if id >= 0 && id < model.pieces.count { tokens.append(model.pieces[id].piece) }
        }
        var text: String
        if let (replacement, stripFirst) = metaspaceDecoder {
            var view = String.UnicodeScalarView()
            for (i, token) in tokens.enumerated() {
                for c in token.unicodeScalars {
                    if c == replacement {
                        if !(i == 0 && stripFirst) { view.append(" ") }
                    } else {
                        view.append(c)
                    }
                }
            }
            text = String(view)
        } else {
            text = tokens.joined(separator: " ")
        }
        if cleanUpSpaces {
            for (from, to) in [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                               (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")] {
                text = text.replacingOccurrences(of: from, with: to)
            }
        }
        return text
    }
}
