import FluxModel
import CFuzzDriver
import Foundation
import FuzzSupport

/// The shipped model's CLIP tokenizer and the real CLIP vocabulary (Tests/Fixtures), loaded once.
private let tokenizers: [CLIPTokenizer] = [
    loadOrExit("models/default/tokenizer") {
        try CLIPTokenizer(directory: repositoryRoot().appendingPathComponent("models/default/tokenizer"))
    },
    loadOrExit("Tests/Fixtures/tokenizers/clip-real") {
        try CLIPTokenizer(directory: repositoryRoot().appendingPathComponent("Tests/Fixtures/tokenizers/clip-real"))
    },
]

/// A prompt as the worker gets it (any Unicode; invalid UTF-8 is repaired by String as a JSON reader
/// would), tokenized, encoded to 77 ids and decoded again.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCLIPTokenizer(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    for tokenizer in tokenizers {
        let vocabularySize = tokenizer.model.vocabulary.count  // ids are dense in both vocab.json files
        do {
            let encoded = try tokenizer.encode(text, maxLength: 77)
            invariant(encoded.untruncated.allSatisfy { $0 >= 0 && $0 < vocabularySize }, "token id outside the vocabulary")
            invariant(encoded.ids.count == 77, "encode gave \(encoded.ids.count) ids, not 77")
            invariant(encoded.ids.first == tokenizer.bosID, "encode does not start with BOS")
            _ = tokenizer.decode(encoded.untruncated, skipSpecialTokens: true)
        } catch {
            invariant(false, "encode threw: \(error)")
        }
    }
    return 0
}

/// The executable's entry point (SwiftPM aliases main to it); hands over to libFuzzer.
@_cdecl("FuzzCLIPTokenizer_main")
public func fuzzCLIPTokenizerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    ternflux_fuzz_main(argc, argv, fuzzCLIPTokenizer)
}
