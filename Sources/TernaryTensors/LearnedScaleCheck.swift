import Foundation

/// Compares the per-row scales of a ternary checkpoint with reference scales (what `ternflux distill` trained,
/// written by the Python side as `trained_scales.safetensors`: `<weight>_scale` F32 [N] per ternary linear).
public enum LearnedScaleCheck {
    public struct Result: Sendable, Equatable {
        /// Scale tensors compared, and those whose bits all matched.
        public var compared: Int
        public var identical: Int
        /// "name: row r: a vs b" for the first differing row of each differing tensor, and names missing in the
        /// checkpoint.
        public var problems: [String]
        public var ok: Bool { problems.isEmpty && compared == identical && compared > 0 }
    }

    /// Bit-for-bit comparison (Float.bitPattern) of every scale in `reference` with the checkpoint's.
    public static func compare(checkpoint: URL, reference: URL) throws -> Result {
        let ck = try SafeTensorsCheckpoint(directory: checkpoint)
        let ref = try SafeTensorsFile(url: reference)
        var result = Result(compared: 0, identical: 0, problems: [])
        for name in ref.tensorNames {
            result.compared += 1
            guard ck.contains(name) else {
                result.problems.append("\(name): not in \(checkpoint.path)")
                continue
            }
            let a = try ref.floats(name), b = try ck.floats(name)
            guard a.count == b.count else {
                result.problems.append("\(name): \(a.count) reference scales, \(b.count) in the checkpoint")
                continue
            }
            if let r = a.indices.first(where: { a[$0].bitPattern != b[$0].bitPattern }) {
                result.problems.append("\(name): row \(r): trained \(a[r]) vs stored \(b[r])")
            } else {
                result.identical += 1
            }
        }
        return result
    }
}
