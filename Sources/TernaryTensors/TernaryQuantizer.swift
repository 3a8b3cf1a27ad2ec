import CTernaryKernels

public enum TernaryError: Error, Equatable, CustomStringConvertible {
    case shapeMismatch(String)
    case notTernary(String)
    case nonFinite(String)

    public var description: String {
        switch self {
        case let .shapeMismatch(s), let .notTernary(s), let .nonFinite(s): return s
        }
    }
}

/// Ternary weights W_q ∈ {-1, 0, +1} [outFeatures, inFeatures] with a per-output-channel scale γ: W ≈ W_q·γ.
public struct TernaryWeight: Equatable, Sendable {
    public var values: [Int8]
    public var scale: [Float]
    public var outFeatures: Int
    public var inFeatures: Int

    public init(values: [Int8], scale: [Float], outFeatures: Int, inFeatures: Int) throws {
        guard outFeatures >= 0, inFeatures >= 0, values.count == outFeatures * inFeatures, scale.count == outFeatures else {
            throw TernaryError.shapeMismatch(
                "ternary weight [\(outFeatures), \(inFeatures)] needs \(outFeatures * inFeatures) values and \(outFeatures) scales, got \(values.count) and \(scale.count)")
        }
        self.values = values
        self.scale = scale
        self.outFeatures = outFeatures
        self.inFeatures = inFeatures
    }

    /// W_q·γ as fp32 [outFeatures, inFeatures].
    public func dequantized() -> [Float] {
        var out = [Float](repeating: 0, count: values.count)
        for n in 0..<outFeatures {
            let g = scale[n]
            for k in 0..<inFeatures { out[n * inFeatures + k] = Float(values[n * inFeatures + k]) * g }
        }
        return out
    }

    /// The packed payload [outFeatures, format.rowBytes(inFeatures)].
    public func packed(_ format: TernaryFormat) throws -> [UInt8] {
        try TernaryPacking.pack(values, outFeatures: outFeatures, inFeatures: inFeatures, format: format)
    }
}

/// BitNet b1.58 absmean quantization per output channel (docs/formats.md):
/// γₙ = max(meanₖ |W[n,k]|, 1e-5), W_q = clamp(round-half-to-even(W/γₙ), -1, 1).
public enum TernaryQuantizer {
    public static let minimumScale: Float = 1e-5

    /// Quantizes a row-major [outFeatures, inFeatures] fp32 weight. Throws if a row holds inf or NaN.
    public static func absmean(_ weight: UnsafeBufferPointer<Float>, outFeatures: Int, inFeatures: Int, name: String = "weight") throws -> TernaryWeight {
        guard outFeatures >= 0, inFeatures >= 0, weight.count == outFeatures * inFeatures else {
            throw TernaryError.shapeMismatch("\(name): \(weight.count) values do not form a [\(outFeatures), \(inFeatures)] matrix")
        }
        var q = [Int8](repeating: 0, count: weight.count)
        // An empty row has mean 0 here (torch would give NaN); it gets the floor scale.
        var scale = [Float](repeating: minimumScale, count: outFeatures)
        if weight.count > 0 {
            q.withUnsafeMutableBufferPointer { qp in
                scale.withUnsafeMutableBufferPointer { sp in
                    tf_quantize_absmean(weight.baseAddress!, Int64(outFeatures), Int64(inFeatures), qp.baseAddress!, sp.baseAddress!)
                }
            }
        }
        if let bad = scale.firstIndex(where: { !$0.isFinite }) {
            throw TernaryError.nonFinite("\(name): row \(bad) contains inf or NaN, cannot quantize")
        }
        return try TernaryWeight(values: q, scale: scale, outFeatures: outFeatures, inFeatures: inFeatures)
    }

    public static func absmean(_ weight: [Float], outFeatures: Int, inFeatures: Int, name: String = "weight") throws -> TernaryWeight {
        try weight.withUnsafeBufferPointer { try absmean($0, outFeatures: outFeatures, inFeatures: inFeatures, name: name) }
    }

    /// A weight that already is ternary with a given per-row scale (a distilled student's learned scales,
    /// `ternflux distill`): every W[n, k] must be exactly 0, +scale[n] or −scale[n]; W_q is its sign and the scale
    /// is kept bit for bit. Throws, naming the first offending row and column, otherwise.
    public static func withScales(_ weight: [Float], scale: [Float], outFeatures: Int, inFeatures: Int, name: String = "weight") throws -> TernaryWeight {
        guard outFeatures >= 0, inFeatures >= 0, weight.count == outFeatures * inFeatures else {
            throw TernaryError.shapeMismatch("\(name): \(weight.count) values do not form a [\(outFeatures), \(inFeatures)] matrix")
        }
        guard scale.count == outFeatures else {
            throw TernaryError.shapeMismatch("\(name): \(scale.count) scales for \(outFeatures) rows")
        }
        var q = [Int8](repeating: 0, count: weight.count)
        for n in 0..<outFeatures {
            let s = scale[n]
            guard s.isFinite, s > 0 else {
                throw TernaryError.nonFinite("\(name): scale of row \(n) is \(s); learned scales must be finite and positive")
            }
            for k in 0..<inFeatures {
                let w = weight[n * inFeatures + k]
                if w == 0 { continue }
                if w == s { q[n * inFeatures + k] = 1 } else if w == -s { q[n * inFeatures + k] = -1 } else {
                    throw TernaryError.notTernary("\(name)[\(n), \(k)] = \(w) is not 0 or ±scale (\(s)) of its row; "
                        + "a weight stored with its scale must be scale·{−1, 0, +1} exactly")
                }
            }
        }
        return try TernaryWeight(values: q, scale: scale, outFeatures: outFeatures, inFeatures: inFeatures)
    }
}

/// Packing to and from the i2 / t3 layouts (the C reference packers; layouts in ternary_formats.h).
public enum TernaryPacking {
    public static func pack(_ values: [Int8], outFeatures: Int, inFeatures: Int, format: TernaryFormat) throws -> [UInt8] {
        guard outFeatures >= 0, inFeatures >= 0, values.count == outFeatures * inFeatures else {
            throw TernaryError.shapeMismatch("cannot pack \(values.count) values as [\(outFeatures), \(inFeatures)]")
        }
        let rowBytes = format.rowBytes(inFeatures: inFeatures)
        var out = [UInt8](repeating: 0, count: outFeatures * rowBytes)
        guard !out.isEmpty else { return out }
        let rc = values.withUnsafeBufferPointer { v in
            out.withUnsafeMutableBufferPointer { o in
                tf_pack(format.cFormat, v.baseAddress!, Int64(outFeatures), Int64(inFeatures), o.baseAddress!)
            }
        }
        guard rc == 0 else { throw TernaryError.notTernary("a value outside {-1, 0, +1} cannot be packed") }
        return out
    }

    public static func unpack(_ packed: UnsafeRawBufferPointer, outFeatures: Int, inFeatures: Int, format: TernaryFormat) throws -> [Int8] {
        let rowBytes = format.rowBytes(inFeatures: inFeatures)
        guard outFeatures >= 0, inFeatures >= 0, packed.count == outFeatures * rowBytes else {
            throw TernaryError.shapeMismatch(
                "\(format.rawValue) payload of \(packed.count) bytes does not hold [\(outFeatures), \(inFeatures)] (needs \(outFeatures * rowBytes))")
        }
        var q = [Int8](repeating: 0, count: outFeatures * inFeatures)
        guard !q.isEmpty else { return q }
        let rc = q.withUnsafeMutableBufferPointer { qp in
            tf_unpack(format.cFormat, packed.baseAddress!.assumingMemoryBound(to: UInt8.self), Int64(outFeatures), Int64(inFeatures), qp.baseAddress!)
        }
        guard rc == 0 else { throw TernaryError.notTernary("\(format.rawValue) payload holds a byte that is not a valid code") }
        return q
    }

    public static func unpack(_ packed: [UInt8], outFeatures: Int, inFeatures: Int, format: TernaryFormat) throws -> [Int8] {
        try packed.withUnsafeBytes { try unpack($0, outFeatures: outFeatures, inFeatures: inFeatures, format: format) }
    }
}
