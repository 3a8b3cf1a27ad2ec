import TernaryTensors

/// The built-in prompt set of `ternflux eval`: `perCategory` prompts from each of the six categories
/// (420 in all by default), drawn from every caption the grammar can produce. Each category's captions are
/// shuffled with a fixed SplitMix64 stream and taken in that order, cycling when a category has fewer distinct
/// captions than `perCategory` (single_object has 3, two_object 6, colors 18), so each caption of a small
/// category appears equally often (±1). The set is the same on every machine and in every run.
public enum DefaultEvalPrompts {
    public static let perCategory = 70

    public static func prompts(perCategory: Int = perCategory) -> [EvalPrompt] {
        var out: [EvalPrompt] = []
        for (index, category) in EvalCategory.grammarCategories.enumerated() {
            var captions = allPrompts(category)
            var rng = SplitMix64(seed: 0x6E_7661_6C00 &+ UInt64(index))   // "geval" + category
            for i in stride(from: captions.count - 1, to: 0, by: -1) {
                captions.swapAt(i, rng.below(i + 1))
            }
            for i in 0..<perCategory { out.append(captions[i % captions.count]) }
        }
        return out
    }

    /// Every prompt of one category, in the enumeration order of scenes.py `all_prompts`.
    public static func allPrompts(_ category: EvalCategory) -> [EvalPrompt] {
        let shapes = SceneVocabulary.shapes, colors = SceneVocabulary.colorNames
        var out: [EvalPrompt] = []
        switch category {
        case .singleObject:
            out = shapes.map { .singleObject(shape: $0) }
        case .colors:
            for s in shapes { for c in colors { out.append(.colors(color: c, shape: s)) } }
        case .counting:
            for s in shapes { for c in colors { for n in SceneVocabulary.numbers { out.append(.counting(count: n.value, color: c, shape: s)) } } }
        case .twoObject:
            for a in shapes { for b in shapes where a != b { out.append(.twoObject(a, b)) } }
        case .colorAttr:
            for a in shapes { for b in shapes where a != b {
                for ca in colors { for cb in colors where ca != cb {
                    out.append(.colorAttr(colorA: ca, shapeA: a, colorB: cb, shapeB: b))
                } }
            } }
        case .position:
            for a in shapes { for ca in colors { for b in shapes { for cb in colors where (a, ca) != (b, cb) {
                for r in SceneVocabulary.relations {
                    out.append(.position(colorA: ca, shapeA: a, relation: r.phrase, colorB: cb, shapeB: b))
                }
            } } } }
        case .other:
            break
        }
        return out
    }
}
