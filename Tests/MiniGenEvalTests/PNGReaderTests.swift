import CZlib
import XCTest
import FluxModel
@testable import MiniGenEval

final class PNGReaderTests: XCTestCase {
    func testReadsWhatPNGWriterWritesWithEveryFilter() throws {
        // Smooth gradients, noise and flat areas make the writer's heuristic pick all five filters.
        let (w, h) = (67, 41)
        var rgb = [UInt8](repeating: 0, count: w * h * 3)
        var state: UInt64 = 7
        for y in 0..<h { for x in 0..<w { for c in 0..<3 {
            state = state &* 6_364_136_223_846_793_005 &+ 1
            let v: Int
            switch y % 4 {
            case 0: v = x * 3 + c
            case 1: v = Int(state >> 56)
            case 2: v = 200
            default: v = (x * y + c * 50) & 0xff
            }
            rgb[(y * w + x) * 3 + c] = UInt8(v & 0xff)
        } } }
        let png = try PNGWriter.encodeRGB(rgb, width: w, height: h)
        let image = try PNGReader.decode(png)
        XCTAssertEqual(image.width, w)
        XCTAssertEqual(image.height, h)
        XCTAssertEqual(image.channels, 3)
        XCTAssertEqual(image.pixels, rgb)
    }

    func testFixtureSheetsWithCycledFiltersAndPillowRGBA() throws {
        // render_eval_fixtures.py writes row y with filter y mod 5: check the filter bytes, then the pixels
        // against the same scene written as RGBA by Pillow.
        let folder = GroundTruthScenes.folder
        let sheetBytes = [UInt8](try Data(contentsOf: folder.appendingPathComponent("sheet_single_object.png")))
        let filters = try Set(rawFilterBytes(sheetBytes, stride: 1280 * 3 + 1))
        XCTAssertEqual(filters, [0, 1, 2, 3, 4])
        let sheet = try PNGReader.decode(sheetBytes)
        XCTAssertEqual([sheet.width, sheet.height, sheet.channels], [1280, 1280, 3])
        let rgba = try PNGReader.decode(contentsOf: folder.appendingPathComponent("scene_rgba.png"))
        XCTAssertEqual([rgba.width, rgba.height, rgba.channels], [128, 128, 4])
        XCTAssertTrue(stride(from: 3, to: rgba.pixels.count, by: 4).allSatisfy { rgba.pixels[$0] == 255 })
        var tile = [UInt8]()
        for y in 0..<128 { tile += sheet.pixels[(y * 1280 * 3)..<(y * 1280 * 3 + 128 * 3)] }
        XCTAssertEqual(rgba.rgb, tile)
    }

    /// The filter byte of every row of a single-IDAT PNG.
    func rawFilterBytes(_ png: [UInt8], stride: Int) throws -> [UInt8] {
        var i = 8
        var idat = [UInt8]()
        while i + 12 <= png.count {
            let length = Int(png[i..<(i + 4)].reduce(0) { $0 << 8 | UInt32($1) })
            if String(decoding: png[(i + 4)..<(i + 8)], as: UTF8.self) == "IDAT" { idat += png[(i + 8)..<(i + 8 + length)] }
            i += 12 + length
        }
        var out = [UInt8](repeating: 0, count: 1280 * stride)
        var length = uLongf(out.count)
        XCTAssertEqual(uncompress(&out, &length, idat, uLong(idat.count)), Z_OK)
        return Swift.stride(from: 0, to: Int(length), by: stride).map { out[$0] }
    }

    func testBrokenFilesNameTheProblem() throws {
        let good = try PNGWriter.encodeRGB([UInt8](repeating: 9, count: 4 * 4 * 3), width: 4, height: 4)
        func expect(_ bytes: [UInt8], _ fragment: String, line: UInt = #line) {
            XCTAssertThrowsError(try PNGReader.decode(bytes), line: line) { error in
                XCTAssertTrue("\(error)".contains(fragment), "\(error)", line: line)
            }
        }
        expect([1, 2, 3], "bad signature")
        expect(Array(good.prefix(good.count - 12)), "no IEND")
        var crc = good
        crc[20] ^= 0xff                     // inside IHDR's data
        expect(crc, "CRC mismatch in chunk IHDR")
        // Header variants: rebuild IHDR with its CRC.
        func withHeader(depth: UInt8 = 8, colorType: UInt8 = 2, interlace: UInt8 = 0) -> [UInt8] {
            var png = good
            png[24] = depth; png[25] = colorType; png[28] = interlace
            let crc = PNGWriter.crc(Array(png[12..<29]))
            png.replaceSubrange(29..<33, with: PNGWriter.bigEndian(crc))
            return png
        }
        expect(withHeader(depth: 16), "bit depth 16")
        expect(withHeader(colorType: 3), "colour type 3")
        expect(withHeader(interlace: 1), "interlaced")
        // An RGB header over RGBA-sized data: the pixel data does not fit.
        expect(withHeader(colorType: 6), "inflates to")
        XCTAssertNoThrow(try PNGReader.decode(good))
    }

    func testUnreadableFileNamesThePath() {
        XCTAssertThrowsError(try PNGReader.decode(contentsOf: URL(fileURLWithPath: "/nonexistent/x.png"))) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent/x.png"), "\(error)")
        }
    }
}
