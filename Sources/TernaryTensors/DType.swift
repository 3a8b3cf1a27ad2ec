/// Element types TernFlux reads and writes in safetensors files (the names are safetensors' own).
public enum DType: String, CaseIterable, Sendable, Codable {
    case f32 = "F32"
    case f16 = "F16"
    case bf16 = "BF16"
    case i8 = "I8"
    case u8 = "U8"
    case i32 = "I32"
    case i64 = "I64"

    public var byteSize: Int {
        switch self {
        case .i8, .u8: return 1
        case .f16, .bf16: return 2
        case .f32, .i32: return 4
        case .i64: return 8
        }
    }

    /// F32, F16 and BF16: the types `floats(_:)` converts.
    public var isFloatingPoint: Bool { self == .f32 || self == .f16 || self == .bf16 }

    /// dtypes of the safetensors format that TernFlux deliberately does not read.
    static let knownUnsupported: Set<String> = [
        "F64", "BOOL", "I16", "U16", "U32", "U64", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64",
    ]
}

/// Name, element type and shape of one tensor in a safetensors file.
public struct TensorInfo: Equatable, Sendable {
    public var name: String
    public var dtype: DType
    public var shape: [Int]

    public init(name: String, dtype: DType, shape: [Int]) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
    }

    /// Product of the shape (1 for a scalar), or nil on overflow.
    public var elementCount: Int? {
        var n = 1
        for d in shape {
            guard d >= 0 else { return nil }
            let (m, o) = n.multipliedReportingOverflow(by: d)
            if o { return nil }
            n = m
        }
        return n
    }

    /// Bytes of the tensor's data, or nil on overflow.
    public var byteCount: Int? {
        guard let n = elementCount else { return nil }
        let (b, o) = n.multipliedReportingOverflow(by: dtype.byteSize)
        return o ? nil : b
    }
}
