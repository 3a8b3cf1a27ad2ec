import TernaryTensors

extension DType {
    /// The torch dtype name transformers writes as `dtype` in config.json.
    var torchName: String {
        switch self {
        case .f32: return "float32"
        case .f16: return "float16"
        case .bf16: return "bfloat16"
        case .i8: return "int8"
        case .u8: return "uint8"
        case .i32: return "int32"
        case .i64: return "int64"
        }
    }
}
