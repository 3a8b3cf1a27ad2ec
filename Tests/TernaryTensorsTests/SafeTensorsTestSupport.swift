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
