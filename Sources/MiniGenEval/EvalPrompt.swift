import Foundation

/// GenEval's six task categories, in the order GenEval reports them, plus `other` for prompts outside the grammar.
public enum EvalCategory: String, CaseIterable, Sendable, Codable, Comparable {
    case singleObject = "single_object"
    case twoObject = "two_object"
    case counting
    case colors
    case position
    case colorAttr = "color_attr"
    /// A prompt the caption grammar does not produce: it is generated and always scored as a failure.
    case other

    /// The six categories that have a grammar.
    public static let grammarCategories: [EvalCategory] = [.singleObject, .twoObject, .counting, .colors, .position, .colorAttr]

    public static func < (a: EvalCategory, b: EvalCategory) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// What a prompt asks for, read with the caption grammar of `ops/model/scenes.py`.
public enum EvalPrompt: Sendable, Equatable {
    /// "a circle"
    case singleObject(shape: String)
    /// "a circle and a square"
    case twoObject(String, String)
    /// "three green triangles"
    case counting(count: Int, color: String, shape: String)
    /// "a red circle"
    case colors(color: String, shape: String)
    /// "a red circle to the left of a blue square"
    case position(colorA: String, shapeA: String, relation: String, colorB: String, shapeB: String)
    /// "a red circle and a blue square"
    case colorAttr(colorA: String, shapeA: String, colorB: String, shapeB: String)
    /// Anything else (the text is kept for the report).
    case unparsed(String)

    public var category: EvalCategory {
        switch self {
        case .singleObject: return .singleObject
        case .twoObject: return .twoObject
        case .counting: return .counting
        case .colors: return .colors
        case .position: return .position
        case .colorAttr: return .colorAttr
        case .unparsed: return .other
        }
    }

    /// Parses a prompt. Surrounding whitespace is ignored; words are separated by single spaces; the article
    /// may be "a" or "an" (as the Python reference scorer accepts). Never fails: text outside the grammar is
    /// `.unparsed`.
    public init(parsing text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let words = trimmed.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        self = EvalPrompt.parse(words) ?? .unparsed(trimmed)
    }

    static func parse(_ w: [String]) -> EvalPrompt? {
        let isArticle = { (s: String) in s == "a" || s == "an" }
        let isShape = { (s: String) in SceneVocabulary.shapes.contains(s) }
        let isColor = { (s: String) in SceneVocabulary.colorNames.contains(s) }
        switch w.count {
        case 2 where isArticle(w[0]) && isShape(w[1]):
            return .singleObject(shape: w[1])
        case 3 where isArticle(w[0]) && isColor(w[1]) && isShape(w[2]):
            return .colors(color: w[1], shape: w[2])
        case 3:
            guard let n = SceneVocabulary.numbers.first(where: { $0.word == w[0] }), isColor(w[1]),
                  w[2].hasSuffix("s"), isShape(String(w[2].dropLast())) else { return nil }
            return .counting(count: n.value, color: w[1], shape: String(w[2].dropLast()))
        case 5 where isArticle(w[0]) && isShape(w[1]) && w[2] == "and" && isArticle(w[3]) && isShape(w[4]):
            return .twoObject(w[1], w[4])
        case 7 where isArticle(w[0]) && isColor(w[1]) && isShape(w[2]) && w[3] == "and" && isArticle(w[4])
                    && isColor(w[5]) && isShape(w[6]):
            return .colorAttr(colorA: w[1], shapeA: w[2], colorB: w[5], shapeB: w[6])
        default:
            break
        }
        // position: "a C S <relation> a C' S'" with a relation of one to four words
        guard w.count >= 7, isArticle(w[0]), isColor(w[1]), isShape(w[2]) else { return nil }
        let tail = w.suffix(3)
        guard isArticle(tail[tail.startIndex]), isColor(tail[tail.startIndex + 1]), isShape(tail[tail.startIndex + 2])
        else { return nil }
        let phrase = w[3..<(w.count - 3)].joined(separator: " ")
        guard SceneVocabulary.relations.contains(where: { $0.phrase == phrase }) else { return nil }
        return .position(colorA: w[1], shapeA: w[2], relation: phrase, colorB: tail[tail.startIndex + 1],
                         shapeB: tail[tail.startIndex + 2])
    }

    /// The canonical caption (the generator's spelling, "an" before a vowel); unparsed text as given.
    public var caption: String {
        let np = SceneVocabulary.nounPhrase
        switch self {
        case let .singleObject(s): return np(s, nil)
        case let .twoObject(a, b): return "\(np(a, nil)) and \(np(b, nil))"
        case let .counting(n, c, s):
            return "\(SceneVocabulary.numbers.first { $0.value == n }?.word ?? String(n)) \(c) \(s)s"
        case let .colors(c, s): return np(s, c)
        case let .position(ca, sa, r, cb, sb): return "\(np(sa, ca)) \(r) \(np(sb, cb))"
        case let .colorAttr(ca, sa, cb, sb): return "\(np(sa, ca)) and \(np(sb, cb))"
        case let .unparsed(text): return text
        }
    }
}
