import CZlib
import Foundation

/// Minimal PNG encoder for 8-bit RGB images: IHDR, text chunks if any, one zlib-compressed IDAT, IEND.
/// Each scanline takes the filter (None, Sub, Up, Average, Paeth) whose output has the smallest sum of absolute
/// values as signed bytes — the heuristic the PNG specification recommends for truecolour images.
public enum PNGWriter {
    public struct Error: Swift.Error, CustomStringConvertible {
        public let description: String
    }

    package static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Encodes `pixels` (`height·width·3` bytes, interleaved RGB, rows top to bottom) as a PNG file, with `text`
    /// (metadata such as the generation parameters) before the image data, where readers look first.
    public static func encodeRGB(_ pixels: [UInt8], width: Int, height: Int, text: [PNGTextChunk] = []) throws -> [UInt8] {
        guard width > 0, height > 0, width <= 0x7fff_ffff / 4, height <= 0x7fff_ffff else {
            throw Error(description: "PNG size \(width)×\(height) is not a valid image size")
        }
        guard pixels.count == width * height * 3 else {
            throw Error(description: "PNG \(width)×\(height) RGB needs \(width * height * 3) bytes, got \(pixels.count)")
        }
        let filtered = filterScanlines(pixels, width: width, height: height)
        let compressed = try deflate(filtered)

        var png = signature
        var ihdr = [UInt8]()
        ihdr += bigEndian(UInt32(width))
        ihdr += bigEndian(UInt32(height))
        ihdr += [8, 2, 0, 0, 0]   // bit depth 8, colour type 2 (RGB), deflate, adaptive filtering, no interlace
        appendChunk(&png, type: "IHDR", data: ihdr)
        for chunk in text {
            let (type, body) = try chunk.encoded()
            appendChunk(&png, type: type, data: body)
        }
        appendChunk(&png, type: "IDAT", data: compressed)
        appendChunk(&png, type: "IEND", data: [])
        return png
    }

    // MARK: filtering

    static func filterScanlines(_ pixels: [UInt8], width: Int, height: Int) -> [UInt8] {
        let bpp = 3
        let stride = width * bpp
        var out = [UInt8](repeating: 0, count: height * (stride + 1))
        var candidate = [[UInt8]](repeating: [UInt8](repeating: 0, count: stride), count: 5)
        let zeroRow = [UInt8](repeating: 0, count: stride)
        pixels.withUnsafeBufferPointer { px in
            for y in 0..<height {
                let row = UnsafeBufferPointer(rebasing: px[(y * stride)..<((y + 1) * stride)])
                var best = 0
                var bestCost = Int.max
                zeroRow.withUnsafeBufferPointer { zero in
                    let prior = y == 0 ? zero : UnsafeBufferPointer(rebasing: px[((y - 1) * stride)..<(y * stride)])
                    for f in 0..<5 {
                        var cost = 0
                        candidate[f].withUnsafeMutableBufferPointer { dst in
                            for i in 0..<stride {
                                let a = i >= bpp ? Int(row[i - bpp]) : 0
                                let b = Int(prior[i])
                                let c = i >= bpp ? Int(prior[i - bpp]) : 0
                                let predictor: Int
                                switch f {
                                case 0: predictor = 0
                                case 1: predictor = a
                                case 2: predictor = b
                                case 3: predictor = (a + b) >> 1
                                default: predictor = paeth(a, b, c)
                                }
                                let v = UInt8(truncatingIfNeeded: Int(row[i]) - predictor)
                                dst[i] = v
                                cost += v < 128 ? Int(v) : 256 - Int(v)
                            }
                        }
                        if cost < bestCost { bestCost = cost; best = f }
                    }
                }
                let o = y * (stride + 1)
                out[o] = UInt8(best)
                out.replaceSubrange((o + 1)..<(o + 1 + stride), with: candidate[best])
            }
        }
        return out
    }

    @inline(__always)
    package static func paeth(_ a: Int, _ b: Int, _ c: Int) -> Int {
        let p = a + b - c
        let pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
        if pa <= pb && pa <= pc { return a }
        return pb <= pc ? b : c
    }

    // MARK: zlib and chunks

    static func deflate(_ data: [UInt8]) throws -> [UInt8] {
        var destLength = compressBound(uLong(data.count))
        var out = [UInt8](repeating: 0, count: Int(destLength))
        let status = out.withUnsafeMutableBufferPointer { dst in
            data.withUnsafeBufferPointer { src in
                compress2(dst.baseAddress, &destLength, src.baseAddress, uLong(data.count), 4)
            }
        }
        guard status == Z_OK else { throw Error(description: "zlib compress2 failed with status \(status)") }
        out.removeSubrange(Int(destLength)...)
        return out
    }

    package static func crc(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBufferPointer { p in
            UInt32(crc32(crc32(0, nil, 0), p.baseAddress, uInt(p.count)))
        }
    }

    static func appendChunk(_ png: inout [UInt8], type: String, data: [UInt8]) {
        let typeBytes = Array(type.utf8)
        png += bigEndian(UInt32(data.count))
        png += typeBytes
        png += data
        png += bigEndian(crc(typeBytes + data))
    }

    package static func bigEndian(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)]
    }
}
