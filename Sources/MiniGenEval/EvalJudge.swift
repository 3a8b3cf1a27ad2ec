/// Whether the detected objects make a prompt true, per GenEval's rules for each task (as ops/model/eval_py.py
/// `judge`, except position, which uses the grammar's own margin):
/// - single_object: an object of that shape is present;
/// - two_object: both shapes are present;
/// - counting: exactly n objects of that shape, all of that colour;
/// - colors: an object of that shape has that colour;
/// - color_attr: each shape is present in its own colour (the binding is scored);
/// - position: both (colour, shape) objects are present and some pair stands in the relation by centroids with
///   the grammar's margin (≥ 20 px along the axis and ≥ 2× the other axis' difference);
/// - a prompt outside the grammar is always a failure.
public enum EvalJudge {
    public static func isCorrect(_ prompt: EvalPrompt, _ objects: [DetectedObject]) -> Bool {
        func of(_ shape: String, _ color: String? = nil) -> [DetectedObject] {
            objects.filter { $0.shape == shape && (color == nil || $0.color == color) }
        }
        switch prompt {
        case let .singleObject(shape):
            return !of(shape).isEmpty
        case let .twoObject(a, b):
            return !of(a).isEmpty && !of(b).isEmpty
        case let .counting(n, color, shape):
            let found = of(shape)
            return found.count == n && found.allSatisfy { $0.color == color }
        case let .colors(color, shape):
            return !of(shape, color).isEmpty
        case let .colorAttr(ca, sa, cb, sb):
            return !of(sa, ca).isEmpty && !of(sb, cb).isEmpty
        case let .position(ca, sa, relation, cb, sb):
            guard let r = SceneVocabulary.relations.first(where: { $0.phrase == relation }) else { return false }
            let a = of(sa, ca), b = of(sb, cb)
            return a.contains { da in
                b.contains { db in
                    da != db && SceneVocabulary.relationHolds((da.centroidX, da.centroidY), (db.centroidX, db.centroidY),
                                                              axis: r.axis, sign: r.sign)
                }
            }
        case .unparsed:
            return false
        }
    }
}
