import CFuzzDriver
import Foundation
import FuzzSupport
import JobClient

/// The JSONL batch-file parser on arbitrary bytes: every line it accepts carries a prompt and a line
/// number inside the file, every error names a line inside the file; it never traps.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBatchJSONL(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let input = Data(bytes: data, count: size)
    checkBatchParse(input, format: .jsonl)
    return 0
}

/// The executable's entry point (SwiftPM aliases main to it); hands over to libFuzzer.
@_cdecl("FuzzBatchJSONL_main")
public func fuzzBatchJSONLMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    ternflux_fuzz_main(argc, argv, fuzzBatchJSONL)
}
