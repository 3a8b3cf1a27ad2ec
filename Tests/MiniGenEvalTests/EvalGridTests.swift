import XCTest
import FluxModel
@testable import MiniGenEval

final class EvalGridTests: XCTestCase {
    func tile(_ value: UInt8, caption: String, correct: Bool?) -> EvalGrid.Tile {
        EvalGrid.Tile(rgb: [UInt8](repeating: value, count: 32 * 32 * 3), width: 32, height: 32, caption: caption, correct: correct)
    }

    func testLayoutFramesAndCaptionsSurviveAPNGRoundTrip() throws {
        let tiles = [tile(10, caption: "a red circle", correct: true), tile(20, caption: "two", correct: false),
                     tile(30, caption: "x", correct: nil)]
        let png = try EvalGrid.png(tiles, columns: 2)
        let image = try PNGReader.decode(png)
        let cellWidth = 32 + 2 * EvalGrid.frame
        let cellHeight = 32 + 2 * EvalGrid.frame + 2 + EvalGrid.captionLines * BitmapFont.lineHeight
        XCTAssertEqual(image.width, EvalGrid.padding + 2 * (cellWidth + EvalGrid.padding))
        XCTAssertEqual(image.height, EvalGrid.padding + 2 * (cellHeight + EvalGrid.padding))
        func pixel(_ x: Int, _ y: Int) -> [UInt8] { Array(image.pixels[((y * image.width + x) * 3)..<((y * image.width + x) * 3 + 3)]) }
        let p = EvalGrid.padding, f = EvalGrid.frame
        XCTAssertEqual(pixel(p, p), [40, 170, 60])                                  // green frame: correct
        XCTAssertEqual(pixel(p + f, p + f), [10, 10, 10])                           // first image
        XCTAssertEqual(pixel(p + cellWidth + p, p), [220, 40, 40])                  // red frame: wrong
        XCTAssertEqual(pixel(p + cellWidth + p + f + 31, p + f + 31), [20, 20, 20])
        XCTAssertEqual(pixel(p, p + cellHeight + p), [255, 255, 255])               // unscored: no frame
        XCTAssertEqual(pixel(p + f, p + cellHeight + p + f), [30, 30, 30])
        // Caption text: dark pixels below the first image, none below the fourth (empty) cell.
        func darkPixels(x0: Int, y0: Int) -> Int {
            var n = 0
            for y in y0..<(y0 + EvalGrid.captionLines * BitmapFont.lineHeight) {
                for x in x0..<(x0 + cellWidth) where pixel(x, y) == [30, 30, 30] { n += 1 }
            }
            return n
        }
        let textTop = p + 32 + 2 * f + 2
        XCTAssertGreaterThan(darkPixels(x0: p, y0: textTop), 30)
        XCTAssertEqual(darkPixels(x0: p + cellWidth + p, y0: textTop + cellHeight + p), 0)
    }

    func testGlyphsAndWrapping() {
        XCTAssertEqual(BitmapFont.glyph("i"), [0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E])
        XCTAssertEqual(BitmapFont.glyph("é"), BitmapFont.missing)
        XCTAssertEqual(BitmapFont.wrap("a red circle to the left of a blue square", maxCharacters: 12, maxLines: 4),
                       ["a red circle", "to the left", "of a blue", "square"])
        XCTAssertEqual(BitmapFont.wrap("a red circle to the left of a blue square", maxCharacters: 12, maxLines: 2),
                       ["a red circle", "to the le..."])
        XCTAssertEqual(BitmapFont.wrap("abcdefghij", maxCharacters: 4, maxLines: 5), ["abcd", "efgh", "ij"])
        for scalar in 32..<127 where !"`^{}|~\\$".contains(Character(UnicodeScalar(scalar)!)) {
            XCTAssertNotEqual(BitmapFont.glyph(Character(UnicodeScalar(scalar)!)), BitmapFont.missing, "\(scalar)")
        }
    }

    func testMismatchedTilesAreRejected() {
        let odd = EvalGrid.Tile(rgb: [UInt8](repeating: 0, count: 16 * 16 * 3), width: 16, height: 16, caption: "")
        XCTAssertThrowsError(try EvalGrid.png([tile(1, caption: "", correct: nil), odd], columns: 2)) { error in
            XCTAssertTrue("\(error)".contains("image 2 is 16×16"), "\(error)")
        }
        XCTAssertThrowsError(try EvalGrid.png([], columns: 2))
        XCTAssertThrowsError(try EvalGrid.png([tile(1, caption: "", correct: nil)], columns: 0))
    }
}
