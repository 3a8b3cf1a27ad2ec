import Foundation

extension JobSettings {
    /// The seed of a batch line that names none: it depends only on the batch id and the line, so running a
    /// batch file again under the same batch id reproduces every image. 53 bits, so the value is exact in any
    /// JSON reader.
    public static func derivedSeed(batchID: UUID, lineNumber: Int) -> Int64 {
        let digest = SHA256.hexDigest(Array("\(batchID.uuidString.lowercased()):\(lineNumber)".utf8))
        let value = UInt64(digest.prefix(16), radix: 16)!
        return Int64(value & ((1 << 53) - 1))
    }
}
