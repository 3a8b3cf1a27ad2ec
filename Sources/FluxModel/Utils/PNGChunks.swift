import Foundation

/// The chunks of a PNG file, each checked (signature, lengths inside the file, CRC), up to and including
/// IEND. Shared by every reader of PNG files here (the eval's pixel decoder, `ternflux inspect`), so a
/// broken file gets the same message whoever reads it.
public struct PNGChunk: Sendable {
    public let type: String
    public let typeBytes: [UInt8]
    public let body: ArraySlice<UInt8>
    /// Byte offset of the chunk's length field in the file.
    public let offset: Int

    /// Bit 5 of the first type byte clear: a critical chunk a reader must understand.
    public var isCritical: Bool { typeBytes[0] & 0x20 == 0 }
}

public enum PNGChunks {
    public struct Error: Swift.Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    /// Every chunk of `png` in order. Throws for a bad signature, a truncated chunk, a length past the end, a
    /// CRC mismatch or a missing IEND.
    public static func read(_ png: [UInt8]) throws -> [PNGChunk] {
        guard png.count >= 8, Array(png[0..<8]) == PNGWriter.signature else {
            throw Error(description: "not a PNG file (bad signature)")
        }
        func u32(_ o: Int) -> UInt32 { png[o..<(o + 4)].reduce(0) { $0 << 8 | UInt32($1) } }
        var chunks: [PNGChunk] = []
        var offset = 8
        while offset < png.count {
            guard offset + 12 <= png.count else { throw Error(description: "truncated chunk at byte \(offset)") }
            let length = Int(u32(offset))
            guard length <= png.count - offset - 12 else {
                throw Error(description: "chunk at byte \(offset) claims \(length) bytes, past the end of the file")
            }
            let typeBytes = Array(png[(offset + 4)..<(offset + 8)])
            let type = String(decoding: typeBytes, as: UTF8.self)
            let body = png[(offset + 8)..<(offset + 8 + length)]
            guard PNGWriter.crc(typeBytes + body) == u32(offset + 8 + length) else {
                throw Error(description: "CRC mismatch in chunk \(type) at byte \(offset)")
            }
            chunks.append(PNGChunk(type: type, typeBytes: typeBytes, body: body, offset: offset))
            offset += 12 + length
            if type == "IEND" { return chunks }
        }
        throw Error(description: "no IEND chunk (file truncated?)")
    }
}
