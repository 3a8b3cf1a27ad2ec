/// One object found in an image.
public struct DetectedObject: Sendable, Equatable, Codable {
    public var shape: String
    public var color: String
    /// Pixels in the connected component.
    public var area: Int
    /// Mean of the pixel centres (x + 0.5, y + 0.5), in pixels from the top-left corner.
    public var centroidX: Double
    public var centroidY: Double

    enum CodingKeys: String, CodingKey {
        case shape, color, area, centroidX = "centroid_x", centroidY = "centroid_y"
    }
}

/// The mini-GenEval's deterministic detector (the Swift form of ops/model/eval_py.py `detect`):
/// 1. every pixel gets the nearest palette entry (background or one of the six colours) by squared RGB
///    distance, ties to the earlier entry; a pixel farther than `maxColorDistance` from all of them counts as
///    background;
/// 2. 4-connected components of each colour; components under `minArea` pixels are specks and dropped;
/// 3. the shape from the component's geometry inside its bounding box: fill ratio (area / box area: square ≈ 1,
///    circle ≈ π/4, up-pointing triangle ≈ 1/2) and the mean width of the top quarter of rows against the bottom
///    quarter (a triangle's apex is narrow);
/// 4. the centroid of the component's pixels, for position.
public struct SceneDetector: Sendable {
    public var maxColorDistance: Double = 70
    /// The smallest object the generator draws, a 24 px triangle, has about 290 pixels.
    public var minArea = 120
    public var squareMinFill = 0.88
    public var triangleMaxFill = 0.64
    /// A component whose top-quarter rows are narrower than this fraction of its bottom-quarter rows is a triangle.
    public var triangleTopToBottom = 0.5

    public init() {}

    /// Palette index per pixel: 0 background, 1…6 the colours of `SceneVocabulary.colors`.
    public func labels(rgb: [UInt8], width: Int, height: Int) throws -> [UInt8] {
        guard width > 0, height > 0, rgb.count == width * height * 3 else {
            throw MiniGenEvalError.badImage("detector needs \(width)×\(height)×3 = \(max(0, width * height * 3)) RGB bytes, got \(rgb.count)")
        }
        let palette = [SceneVocabulary.background] + SceneVocabulary.colors.map(\.rgb)
        let pr = palette.map { Int($0.r) }, pg = palette.map { Int($0.g) }, pb = palette.map { Int($0.b) }
        let cutoff = Int((maxColorDistance * maxColorDistance).rounded(.down))
        var out = [UInt8](repeating: 0, count: width * height)
        rgb.withUnsafeBufferPointer { px in
            for p in 0..<(width * height) {
                let r = Int(px[p * 3]), g = Int(px[p * 3 + 1]), b = Int(px[p * 3 + 2])
                var best = 0, bestDistance = Int.max
                for k in 0..<palette.count {
                    let dr = r - pr[k], dg = g - pg[k], db = b - pb[k]
                    let d = dr * dr + dg * dg + db * db
                    if d < bestDistance { bestDistance = d; best = k }
                }
                // sqrt(d) > 70 ⇔ d > 4900 for integer d
                out[p] = bestDistance > cutoff ? 0 : UInt8(best)
            }
        }
        return out
    }

    /// Every object in an 8-bit RGB image (`width·height·3` bytes, rows top to bottom), ordered by colour, then
    /// by the component's first pixel in raster order.
    public func detect(rgb: [UInt8], width: Int, height: Int) throws -> [DetectedObject] {
        let label = try labels(rgb: rgb, width: width, height: height)
        var component = [Int32](repeating: -1, count: width * height)
        var found: [DetectedObject] = []
        var stack: [Int] = []
        var pixels: [Int] = []
        for color in 1...SceneVocabulary.colors.count {
            let target = UInt8(color)
            for start in 0..<(width * height) where label[start] == target && component[start] < 0 {
                // flood fill, 4-connected
                pixels.removeAll(keepingCapacity: true)
                stack.append(start)
                component[start] = 0
                while let p = stack.popLast() {
                    pixels.append(p)
                    let x = p % width, y = p / width
                    if x > 0, label[p - 1] == target, component[p - 1] < 0 { component[p - 1] = 0; stack.append(p - 1) }
                    if x + 1 < width, label[p + 1] == target, component[p + 1] < 0 { component[p + 1] = 0; stack.append(p + 1) }
                    if y > 0, label[p - width] == target, component[p - width] < 0 { component[p - width] = 0; stack.append(p - width) }
                    if y + 1 < height, label[p + width] == target, component[p + width] < 0 {
                        component[p + width] = 0; stack.append(p + width)
                    }
                }
                guard pixels.count >= minArea else { continue }
                found.append(describe(pixels, width: width, color: SceneVocabulary.colors[color - 1].name))
            }
        }
        return found
    }

    func describe(_ pixels: [Int], width: Int, color: String) -> DetectedObject {
        var minX = Int.max, maxX = Int.min, minY = Int.max, maxY = Int.min
        var sumX = 0.0, sumY = 0.0
        for p in pixels {
            let x = p % width, y = p / width
            minX = min(minX, x); maxX = max(maxX, x); minY = min(minY, y); maxY = max(maxY, y)
            sumX += Double(x); sumY += Double(y)
        }
        let boxWidth = maxX - minX + 1, boxHeight = maxY - minY + 1
        var rowCounts = [Int](repeating: 0, count: boxHeight)
        for p in pixels { rowCounts[p / width - minY] += 1 }
        let shape = classify(area: pixels.count, boxWidth: boxWidth, rowCounts: rowCounts)
        let n = Double(pixels.count)
        return DetectedObject(shape: shape, color: color, area: pixels.count,
                              centroidX: sumX / n + 0.5, centroidY: sumY / n + 0.5)
    }

    /// Shape from the fill ratio and the top/bottom row widths of a component's bounding box.
    public func classify(area: Int, boxWidth: Int, rowCounts: [Int]) -> String {
        let h = rowCounts.count
        let fill = Double(area) / Double(h * boxWidth)
        let q = max(1, h / 4)
        let top = Double(rowCounts.prefix(q).reduce(0, +)) / Double(q)
        let bottom = Double(rowCounts.suffix(q).reduce(0, +)) / Double(q)
        if fill >= squareMinFill { return "square" }
        if fill <= triangleMaxFill || top < triangleTopToBottom * bottom { return "triangle" }
        return "circle"
    }
}

public enum MiniGenEvalError: Error, CustomStringConvertible, Equatable {
    case badImage(String)
    case badPromptFile(String, [PromptFileLineError])
    case badGrid(String)
    case unreadable(String, String)

    public var description: String {
        switch self {
        case let .badImage(m): return "mini-GenEval: \(m)"
        case let .badPromptFile(path, errors):
            return "\(path): \(errors.count) malformed line\(errors.count == 1 ? "" : "s"):\n"
                + errors.map { "  \($0)" }.joined(separator: "\n")
        case let .badGrid(m): return "grid: \(m)"
        case let .unreadable(path, m): return "cannot read \(path): \(m)"
        }
    }
}
