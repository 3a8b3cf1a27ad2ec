import CZlib
import FluxModel
import Foundation

/// A decoded PNG: 8-bit samples, rows top to bottom, `channels` per pixel (3 RGB, 4 RGBA).
public struct PNGImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var channels: Int
    public var pixels: [UInt8]

    /// Interleaved RGB (`width·height·3` bytes); an alpha channel is dropped (the eval's images are opaque).
    public var rgb: [UInt8] {
        guard channels == 4 else { return pixels }
        var out = [UInt8](repeating: 0, count: width * height * 3)
        for p in 0..<(width * height) {
            out[p * 3] = pixels[p * 4]; out[p * 3 + 1] = pixels[p * 4 + 1]; out[p * 3 + 2] = pixels[p * 4 + 2]
        }
        return out
    }
}

/// Minimal PNG decoder for what TernFlux reads back (eval fixtures, its own output): 8-bit RGB or RGBA,
/// non-interlaced, all five scanline filters, any number of IDAT chunks. Every chunk's CRC is checked;
/// ancillary chunks are skipped; anything else is an error naming what is unsupported or broken.
public enum PNGReader {
    public struct Error: Swift.Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    public static func decode(contentsOf url: URL) throws -> PNGImage {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw Error(description: "cannot read PNG \(url.path): \(error.localizedDescription)")
        }
        do { return try decode([UInt8](data)) } catch let error as Error {
            throw Error(description: "\(url.path): \(error.description)")
        }
    }

    public static func decode(_ png: [UInt8]) throws -> PNGImage {
        let chunks: [PNGChunk]
        do { chunks = try PNGChunks.read(png) } catch let error as PNGChunks.Error { throw Error(description: error.description) }
        var header: (width: Int, height: Int, channels: Int)?
        var compressed: [UInt8] = []
        for chunk in chunks {
            switch chunk.type {
            case "IHDR":
                guard header == nil, chunk.body.count == 13 else { throw Error(description: "bad or repeated IHDR chunk") }
                header = try parseHeader(Array(chunk.body))
            case "IDAT":
                guard header != nil else { throw Error(description: "IDAT before IHDR") }
                compressed += chunk.body
            case "IEND":
                break
            default:
                // A critical chunk this decoder does not understand (PLTE included: palette images are not supported).
                if chunk.isCritical { throw Error(description: "unsupported critical chunk \(chunk.type)") }
            }
        }
        guard let (width, height, channels) = header else { throw Error(description: "no IHDR chunk") }
        guard !compressed.isEmpty else { throw Error(description: "no IDAT chunk") }
        let stride = width * channels
        let filtered = try inflate(compressed, expected: height * (stride + 1))
        return PNGImage(width: width, height: height, channels: channels,
                        pixels: try unfilter(filtered, width: width, height: height, channels: channels))
    }

    static func parseHeader(_ b: [UInt8]) throws -> (Int, Int, Int) {
        let width = Int(b[0..<4].reduce(0) { $0 << 8 | UInt32($1) })
        let height = Int(b[4..<8].reduce(0) { $0 << 8 | UInt32($1) })
        guard width > 0, height > 0, width <= 1 << 24, height <= 1 << 24, width * height <= 1 << 28 else {
            throw Error(description: "unsupported image size \(width)×\(height)")
        }
        let (depth, colorType, compression, filter, interlace) = (b[8], b[9], b[10], b[11], b[12])
        guard depth == 8 else { throw Error(description: "bit depth \(depth) is not supported (only 8)") }
        let channels: Int
        switch colorType {
        case 2: channels = 3
        case 6: channels = 4
        default: throw Error(description: "colour type \(colorType) is not supported (only 2 RGB and 6 RGBA)")
        }
        guard compression == 0, filter == 0 else {
            throw Error(description: "unknown compression method \(compression) or filter method \(filter)")
        }
        guard interlace == 0 else { throw Error(description: "interlaced (Adam7) PNG is not supported") }
        return (width, height, channels)
    }

    static func inflate(_ data: [UInt8], expected: Int) throws -> [UInt8] {
        // One byte of slack shows whether the stream holds more than the image needs.
        var out = [UInt8](repeating: 0, count: expected + 1)
        var length = uLongf(out.count)
        let status = out.withUnsafeMutableBufferPointer { dst in
            data.withUnsafeBufferPointer { src in uncompress(dst.baseAddress, &length, src.baseAddress, uLong(src.count)) }
        }
        guard status == Z_OK else {
            throw Error(description: status == Z_BUF_ERROR ? "image data holds more than \(expected) bytes (or is truncated)"
                        : "image data does not inflate (zlib status \(status))")
        }
        guard Int(length) == expected else {
            throw Error(description: "image data inflates to \(length) bytes, expected \(expected)")
        }
        out.removeLast()
        return out
    }

    static func unfilter(_ data: [UInt8], width: Int, height: Int, channels bpp: Int) throws -> [UInt8] {
        let stride = width * bpp
        var out = [UInt8](repeating: 0, count: height * stride)
        try data.withUnsafeBufferPointer { src in
            try out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<height {
                    let filter = src[y * (stride + 1)]
                    let line = src.baseAddress! + y * (stride + 1) + 1
                    let row = dst.baseAddress! + y * stride
                    let prior: UnsafeMutablePointer<UInt8>? = y > 0 ? dst.baseAddress! + (y - 1) * stride : nil
                    for i in 0..<stride {
                        let a = i >= bpp ? Int(row[i - bpp]) : 0
                        let b = prior.map { Int($0[i]) } ?? 0
                        let c = i >= bpp ? (prior.map { Int($0[i - bpp]) } ?? 0) : 0
                        let predictor: Int
                        switch filter {
                        case 0: predictor = 0
                        case 1: predictor = a
                        case 2: predictor = b
                        case 3: predictor = (a + b) >> 1
                        case 4: predictor = PNGWriter.paeth(a, b, c)
                        default: throw Error(description: "row \(y) has unknown filter type \(filter)")
                        }
                        row[i] = UInt8(truncatingIfNeeded: Int(line[i]) + predictor)
                    }
                }
            }
        }
        return out
    }
}
