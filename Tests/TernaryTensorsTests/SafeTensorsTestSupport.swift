import Foundation
import XCTest
@testable import TernaryTensors

/// A fresh temporary folder removed when the test ends.
func makeTemporaryDirectory(_ test: XCTestCase, file: StaticString = #filePath, line: UInt = #line) throws -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("ternflux-tests-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}

/// Bytes of a safetensors file with this exact header text (not padded) followed by `data`.
func craftSafeTensors(header: String, data: [UInt8] = []) -> [UInt8] {
    let h = Array(header.utf8)
    var out: [UInt8] = []
    var n = UInt64(h.count)
    for _ in 0..<8 { out.append(UInt8(n & 0xff)); n >>= 8 }
    return out + h + data
}

/// Parses in-memory file bytes the same way a mapped file is parsed.
func parseSafeTensors(_ bytes: [UInt8], name: String = "crafted.safetensors") throws -> SafeTensorsFile {
    try bytes.withUnsafeBytes { try SafeTensorsFile(bytes: $0, url: URL(fileURLWithPath: "/virtual/\(name)")) }
}

/// Deterministic pseudo-random numbers for tests (SplitMix64).
struct SplitMixRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [-1, 1).
    mutating func uniform() -> Float { Float(next() >> 40) / Float(1 << 23) - 1 }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}
