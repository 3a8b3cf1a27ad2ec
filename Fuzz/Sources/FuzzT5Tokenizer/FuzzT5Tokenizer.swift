import FluxModel
import CFuzzDriver
import Foundation
import FuzzSupport

/// The shipped model's T5 tokenizer (tokenizer.json with its precompiled charsmap), loaded once.
private let tokenizer: T5Tokenizer = loadOrExit("models/default/tokenizer_2") {
    try T5Tokenizer(directory: repositoryRoot().appendingPathComponent("models/default/tokenizer_2"))
}

/// A prompt as the worker gets it, tokenized, encoded to 512 ids and decoded again.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzT5Tokenizer(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    do {
        let encoded = try tokenizer.encode(text, maxLength: 512)
        // The added tokens of this tokenizer.json all lie inside the piece table.
        invariant(encoded.untruncated.allSatisfy { tokenizer.model.pieces.indices.contains($0) }, "token id outside the piece table")
        invariant(encoded.ids.count == 512, "encode gave \(encoded.ids.count) ids, not 512")
        _ = tokenizer.decode(encoded.untruncated, skipSpecialTokens: true)
    } catch {
        // This tokenizer has an unk_id and 512 leaves room for the template, so nothing may throw.
        invariant(false, "encode threw: \(error)")
    }
    return 0
}

/// The executable's entry point (SwiftPM aliases main to it); hands over to libFuzzer.
@_cdecl("FuzzT5Tokenizer_main")
public func fuzzT5TokenizerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    ternflux_fuzz_main(argc, argv, fuzzT5Tokenizer)
}
