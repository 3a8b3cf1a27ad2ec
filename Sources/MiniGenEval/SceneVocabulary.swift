/// The words and geometry of the synthetic scenes the shipped model was trained on (`ops/model/scenes.py`):
/// six palette colours with their exact RGB values, three shapes, counts two to four, four relations.
public enum SceneVocabulary {
    public static let background: RGB = RGB(235, 235, 235)

    /// Palette colours in the order of scenes.py's COLORS (the detector's label order after the background).
    public static let colors: [(name: String, rgb: RGB)] = [
        ("red", RGB(220, 40, 40)),
        ("green", RGB(40, 170, 60)),
        ("blue", RGB(40, 80, 220)),
        ("yellow", RGB(240, 200, 30)),
        ("purple", RGB(150, 60, 190)),
        ("orange", RGB(250, 140, 30)),
    ]
    public static let colorNames: [String] = colors.map(\.name)
    public static let shapes = ["circle", "square", "triangle"]
    public static let numbers: [(word: String, value: Int)] = [("two", 2), ("three", 3), ("four", 4)]
    /// Relation → (axis: 0 = x, 1 = y, sign): "to the left of" means x(a) − x(b) is clearly negative.
    public static let relations: [(phrase: String, axis: Int, sign: Double)] = [
        ("to the left of", 0, -1), ("to the right of", 0, 1), ("above", 1, -1), ("below", 1, 1),
    ]
    /// The grammar's position margin: the centroid difference along the relation's axis is at least this many
    /// pixels and at least twice the difference along the other axis (scenes.py POSITION_MARGIN_PX).
    public static let positionMarginPixels = 20.0

    public struct RGB: Sendable, Equatable {
        public var r: UInt8, g: UInt8, b: UInt8
        public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) { self.r = r; self.g = g; self.b = b }
    }

    /// "an" before a vowel, as the generator writes it.
    public static func article(_ word: String) -> String {
        guard let first = word.first else { return "a" }
        return "aeiou".contains(first) ? "an" : "a"
    }

    /// "a red circle", "an orange square", "a triangle".
    public static func nounPhrase(shape: String, color: String? = nil) -> String {
        let words = color.map { "\($0) \(shape)" } ?? shape
        return "\(article(words)) \(words)"
    }

    /// True when centroid `a` stands in `relation` to centroid `b` with the grammar's margin.
    public static func relationHolds(_ a: (x: Double, y: Double), _ b: (x: Double, y: Double), axis: Int, sign: Double,
                                     margin: Double = positionMarginPixels) -> Bool {
        let main = ((axis == 0 ? a.x - b.x : a.y - b.y)) * sign
        let other = abs(axis == 0 ? a.y - b.y : a.x - b.x)
        return main >= margin && main >= 2 * other
    }
}
