import CFuzzDriver
import Foundation
import FuzzSupport
import JobClient

/// The Text batch-file parser on arbitrary bytes: every line it accepts carries a prompt and a line
/// number inside the file, every error names a line inside the file; it never traps.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBatchText(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let input = Data(bytes: data, count: size)
    checkBatchParse(input, format: .text)
    return 0
}

/// The executable's entry point (SwiftPM aliases main to it); hands over to libFuzzer.
@_cdecl("FuzzBatchText_main")
public func fuzzBatchTextMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    ternflux_fuzz_main(argc, argv, fuzzBatchText)
}
