import CZlib
import XCTest
@testable import FluxModel
import TernaryTensors

/// Decodes what PNGWriter wrote with an independent reader (chunk walk, CRC check, zlib inflate, unfiltering).
final class PNGWriterTests: XCTestCase {
    struct Chunk { let type: String; let data: [UInt8] }

    func readChunks(_ png: [UInt8], file: StaticString = #filePath, line: UInt = #line) throws -> [Chunk] {
        XCTAssertEqual(Array(png.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], file: file, line: line)
        var chunks = [Chunk]()
        var i = 8
        func u32(_ o: Int) -> UInt32 { png[o..<(o + 4)].reduce(0) { $0 << 8 | UInt32($1) } }
        while i < png.count {
            XCTAssertLessThanOrEqual(i + 12, png.count, "truncated chunk", file: file, line: line)
            let length = Int(u32(i))
            let typeAndData = Array(png[(i + 4)..<(i + 8 + length)])
            let stored = u32(i + 8 + length)
            let computed = typeAndData.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt($0.count))) }
            let type = String(decoding: typeAndData.prefix(4), as: UTF8.self)
            XCTAssertEqual(stored, computed, "CRC of chunk \(type)", file: file, line: line)
            chunks.append(Chunk(type: type, data: Array(typeAndData.dropFirst(4))))
            i += 12 + length
        }
        XCTAssertEqual(i, png.count, file: file, line: line)
        return chunks
    }

    func decode(_ png: [UInt8]) throws -> (width: Int, height: Int, pixels: [UInt8], filters: Set<UInt8>) {
        let chunks = try readChunks(png)
        XCTAssertEqual(chunks.map(\.type), ["IHDR", "IDAT", "IEND"])
        let ihdr = chunks[0].data
        XCTAssertEqual(ihdr.count, 13)
        let width = Int(ihdr[0..<4].reduce(0) { $0 << 8 | UInt32($1) })
        let height = Int(ihdr[4..<8].reduce(0) { $0 << 8 | UInt32($1) })
        XCTAssertEqual(Array(ihdr[8..<13]), [8, 2, 0, 0, 0])
        let stride = width * 3
        var raw = [UInt8](repeating: 0, count: height * (stride + 1))
        var rawLength = uLongf(raw.count)
        let idat = chunks[1].data
        let status = raw.withUnsafeMutableBufferPointer { dst in
            idat.withUnsafeBufferPointer { src in uncompress(dst.baseAddress, &rawLength, src.baseAddress, uLong(src.count)) }
        }
        XCTAssertEqual(status, Z_OK)
        XCTAssertEqual(Int(rawLength), raw.count)
        var pixels = [UInt8](repeating: 0, count: height * stride)
        var filters = Set<UInt8>()
        for y in 0..<height {
            let filter = raw[y * (stride + 1)]
            filters.insert(filter)
            for i in 0..<stride {
                let x = Int(raw[y * (stride + 1) + 1 + i])
                let a = i >= 3 ? Int(pixels[y * stride + i - 3]) : 0
                let b = y > 0 ? Int(pixels[(y - 1) * stride + i]) : 0
                let c = (i >= 3 && y > 0) ? Int(pixels[(y - 1) * stride + i - 3]) : 0
                let pred: Int
                switch filter {
                case 0: pred = 0
                case 1: pred = a
                case 2: pred = b
                case 3: pred = (a + b) / 2
                case 4:
                    let p = a + b - c
                    let (pa, pb, pc) = (abs(p - a), abs(p - b), abs(p - c))
                    pred = (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c)
                default:
                    XCTFail("invalid filter type \(filter) on row \(y)"); pred = 0
                }
                pixels[y * stride + i] = UInt8(truncatingIfNeeded: x + pred)
            }
        }
        return (width, height, pixels, filters)
    }

    func testRoundTripOfNonSquareImageWithGradientsAndNoise() throws {
        let (w, h) = (37, 23)
        var state: UInt32 = 12345
        var pixels = [UInt8](repeating: 0, count: w * h * 3)
        for y in 0..<h {
            for x in 0..<w {
                state = state &* 1664525 &+ 1013904223
                let o = (y * w + x) * 3
                pixels[o] = UInt8(x * 255 / (w - 1))                 // horizontal gradient
                pixels[o + 1] = UInt8(y * 255 / (h - 1))             // vertical gradient
                pixels[o + 2] = y < h / 2 ? UInt8(state >> 24) : 77  // noise, then flat
            }
        }
        let png = try PNGWriter.encodeRGB(pixels, width: w, height: h)
        let decoded = try decode(png)
        XCTAssertEqual(decoded.width, w)
        XCTAssertEqual(decoded.height, h)
        XCTAssertEqual(decoded.pixels, pixels)
        XCTAssertGreaterThan(decoded.filters.count, 1, "adaptive filtering should pick different filters for different rows")
    }

    func testSinglePixel() throws {
        let png = try PNGWriter.encodeRGB([255, 0, 128], width: 1, height: 1)
        let decoded = try decode(png)
        XCTAssertEqual(decoded.pixels, [255, 0, 128])
    }

    func testBadSizesAreRejected() {
        XCTAssertThrowsError(try PNGWriter.encodeRGB([1, 2, 3], width: 2, height: 1)) { error in
            XCTAssertTrue("\(error)".contains("needs 6 bytes, got 3"), "\(error)")
        }
        XCTAssertThrowsError(try PNGWriter.encodeRGB([], width: 0, height: 4))
    }

    func testPostprocessMatchesDiffusersRounding() throws {
        // Expected bytes from diffusers: VaeImageProcessor().postprocess(sample, output_type="pil") on the same
        // float32 values (channel 0 = x, channel 1 = −x, channel 2 = 0). −0.99607843 lands on 0.5 → 0 and
        // 0.99607843 on 254.5 → 254: numpy rounds half to even.
        let values: [Float] = [-2, -1, 0, 1, 2, 0.5, -0.5, 0.003921568859368563, -0.9960784316062927,
                               0.003921499941498041, -0.9882352948188782]
        let expected0: [UInt8] = [0, 0, 128, 255, 255, 191, 64, 128, 0, 128, 1]
        let expected1: [UInt8] = [255, 255, 128, 0, 0, 64, 191, 127, 254, 127, 254]
        let n = values.count
        let storage = values + values.map { -$0 } + [Float](repeating: 0, count: n)
        let sample = Tensor(shape: [1, 3, 1, n], storage: storage)
        let rgb = try ImagePostprocess.toRGB8(sample, index: 0)
        XCTAssertEqual(rgb.count, n * 3)
        XCTAssertEqual((0..<n).map { rgb[$0 * 3] }, expected0)
        XCTAssertEqual((0..<n).map { rgb[$0 * 3 + 1] }, expected1)
        XCTAssertEqual((0..<n).map { rgb[$0 * 3 + 2] }, [UInt8](repeating: 128, count: n))   // 127.5 → 128
        XCTAssertEqual(try ImagePostprocess.toRGB8(Tensor(shape: [1, 3, 1, 1], storage: [.nan, .infinity, -.infinity]), index: 0),
                       [0, 255, 0])
        XCTAssertThrowsError(try ImagePostprocess.toRGB8(sample, index: 1))
        XCTAssertThrowsError(try ImagePostprocess.toRGB8(Tensor(zeros: [1, 4, 2, 2]), index: 0))
    }
}
