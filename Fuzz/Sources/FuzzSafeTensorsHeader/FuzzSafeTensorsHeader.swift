import CFuzzDriver
import Foundation
import FuzzSupport
import TernaryTensors

private let name = URL(fileURLWithPath: "/fuzz/input.safetensors")

/// A whole safetensors file image: the header is validated on open, then every tensor is read the way
/// the loaders read them (info, raw bytes, floats for float dtypes). Errors are fine; traps are findings.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensorsHeader(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let buffer = UnsafeRawBufferPointer(start: data, count: size)
    let file: SafeTensorsFile
    do { file = try SafeTensorsFile(bytes: buffer, url: name) } catch { return 0 }
    for tensor in file.tensorNames {
        guard let info = try? file.info(tensor), let bytes = try? file.bytes(tensor) else {
            invariant(false, "listed tensor '\(tensor)' cannot be looked up")
            return 0
        }
        invariant(bytes.count <= size, "tensor '\(tensor)' claims \(bytes.count) bytes of a \(size)-byte file")
        invariant(info.shape.allSatisfy { $0 >= 0 }, "tensor '\(tensor)' has a negative dimension")
        _ = try? file.floats(tensor)
        _ = try? file.integers(tensor)
    }
    return 0
}

/// The executable's entry point (SwiftPM aliases main to it); hands over to libFuzzer.
@_cdecl("FuzzSafeTensorsHeader_main")
public func fuzzSafeTensorsHeaderMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    ternflux_fuzz_main(argc, argv, fuzzSafeTensorsHeader)
}
