import FluxModel

/// Sample grids: images in rows and columns, each with its caption underneath in the built-in bitmap font and,
/// when the image was scored, a green (correct) or red (wrong) frame.
public enum EvalGrid {
    public struct Tile: Sendable {
        public var rgb: [UInt8]
        public var width: Int
        public var height: Int
        public var caption: String
        /// true: correct (green frame), false: wrong (red frame), nil: not scored (no frame).
        public var correct: Bool?

        public init(rgb: [UInt8], width: Int, height: Int, caption: String, correct: Bool? = nil) {
            self.rgb = rgb
            self.width = width
            self.height = height
            self.caption = caption
            self.correct = correct
        }
    }

    public static let padding = 6
    public static let frame = 2
    public static let captionLines = 4

    /// Renders the tiles `columns` to a row (all tiles must have the same size) as interleaved RGB.
    public static func render(_ tiles: [Tile], columns: Int) throws -> (rgb: [UInt8], width: Int, height: Int) {
        guard let first = tiles.first else { throw MiniGenEvalError.badGrid("no images to put in the grid") }
        guard columns >= 1 else { throw MiniGenEvalError.badGrid("columns must be ≥ 1, got \(columns)") }
        for (i, t) in tiles.enumerated() {
            guard t.width == first.width, t.height == first.height else {
                throw MiniGenEvalError.badGrid("image \(i + 1) is \(t.width)×\(t.height), the first is \(first.width)×\(first.height)")
            }
            guard t.rgb.count == t.width * t.height * 3 else {
                throw MiniGenEvalError.badGrid("image \(i + 1) has \(t.rgb.count) bytes, expected \(t.width * t.height * 3)")
            }
        }
        let cols = min(columns, tiles.count)
        let rows = (tiles.count + cols - 1) / cols
        let cellWidth = first.width + 2 * frame
        let cellHeight = first.height + 2 * frame + 2 + captionLines * BitmapFont.lineHeight
        let width = padding + cols * (cellWidth + padding)
        let height = padding + rows * (cellHeight + padding)
        var out = [UInt8](repeating: 255, count: width * height * 3)

        func fill(_ x0: Int, _ y0: Int, _ w: Int, _ h: Int, _ color: (UInt8, UInt8, UInt8)) {
            for y in max(0, y0)..<min(height, y0 + h) {
                for x in max(0, x0)..<min(width, x0 + w) {
                    let o = (y * width + x) * 3
                    out[o] = color.0; out[o + 1] = color.1; out[o + 2] = color.2
                }
            }
        }

        let maxCharacters = max(1, (cellWidth + 1) / BitmapFont.advance)
        for (i, tile) in tiles.enumerated() {
            let x0 = padding + (i % cols) * (cellWidth + padding)
            let y0 = padding + (i / cols) * (cellHeight + padding)
            if let correct = tile.correct {
                fill(x0, y0, cellWidth, first.height + 2 * frame, correct ? (40, 170, 60) : (220, 40, 40))
            }
            for y in 0..<tile.height {
                let src = y * tile.width * 3
                let dst = ((y0 + frame + y) * width + x0 + frame) * 3
                out.replaceSubrange(dst..<(dst + tile.width * 3), with: tile.rgb[src..<(src + tile.width * 3)])
            }
            let textTop = y0 + first.height + 2 * frame + 2
            for (l, line) in BitmapFont.wrap(tile.caption, maxCharacters: maxCharacters, maxLines: captionLines).enumerated() {
                for (c, character) in line.enumerated() {
                    let glyph = BitmapFont.glyph(character)
                    for (gy, bits) in glyph.enumerated() {
                        for gx in 0..<BitmapFont.glyphWidth where bits & (0x10 >> UInt8(gx)) != 0 {
                            fill(x0 + c * BitmapFont.advance + gx, textTop + l * BitmapFont.lineHeight + gy, 1, 1, (30, 30, 30))
                        }
                    }
                }
            }
        }
        return (out, width, height)
    }

    /// The grid as a PNG file's bytes.
    public static func png(_ tiles: [Tile], columns: Int) throws -> [UInt8] {
        let grid = try render(tiles, columns: columns)
        return try PNGWriter.encodeRGB(grid.rgb, width: grid.width, height: grid.height)
    }
}
