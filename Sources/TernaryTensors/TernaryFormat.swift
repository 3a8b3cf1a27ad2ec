import CTernaryKernels

/// Packing of ternary weights on disk and in memory (docs/formats.md).
public enum TernaryFormat: String, CaseIterable, Sendable, Codable {
    /// 2 bits per weight, blocks of 128 laid out for the SIMD kernels.
    case i2
    /// Base 3, five weights per byte (1.6 bits per weight).
    case t3

    public var cFormat: tf_format {
        switch self {
        case .i2: return TF_FORMAT_I2
        case .t3: return TF_FORMAT_T3
        }
    }

    /// Bytes of one packed row of `inFeatures` weights.
    public func rowBytes(inFeatures: Int) -> Int {
        Int(tf_packed_row_bytes(cFormat, Int64(inFeatures)))
    }
}

/// How activations enter the ternary GEMM.
public enum ActivationMode: String, CaseIterable, Sendable, Codable {
    /// fp32 activations: exact up to fp32 summation order.
    case f32
    /// Per-token absmax int8 activations with int32 accumulation (BitNet b1.58).
    case int8

    public var cMode: tf_act_mode {
        switch self {
        case .f32: return TF_ACT_F32
        case .int8: return TF_ACT_INT8
        }
    }
}

/// Names used inside a ternary safetensors checkpoint (docs/formats.md):
/// `<prefix>.weight` is the U8 payload [N, rowBytes], `<prefix>.weight_scale` the F32 scale [N];
/// `__metadata__` carries `ternflux.packing` (i2 | t3), `ternflux.format_version` and, per packed tensor,
/// `ternflux.shape.<prefix>.weight` = "N,K" (the logical shape the padding hides).
public enum TernaryCheckpointKeys {
    public static let packing = "ternflux.packing"
    public static let formatVersion = "ternflux.format_version"
    public static let currentFormatVersion = "1"
    public static func shapeKey(forWeight name: String) -> String { "ternflux.shape.\(name)" }
    public static func scaleName(forWeight name: String) -> String { "\(name)_scale" }
}
