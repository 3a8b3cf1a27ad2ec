import CTernaryKernels

/// A problem with the arguments of a ternary linear layer; the message names the field that is wrong.
public struct TernaryLinearError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A linear layer over packed ternary weights: y = x · (W_q · diag(scale))ᵀ + bias, computed by the C kernels
/// (docs/kernels.md). The packed bytes are used in place (typically a memory-mapped checkpoint kept alive by
/// `owner`); nothing is copied or unpacked ahead of time.
public struct TernaryLinear: LinearLayer, @unchecked Sendable {
    /// Packed weights, `outFeatures` rows of `format.rowBytes(inFeatures:)` bytes (docs/formats.md).
    public let packed: UnsafeRawBufferPointer
    /// Keeps the memory behind `packed` alive (a memory map, or a `PackedTernaryStorage`).
    public let owner: AnyObject?
    public let scale: [Float]
    public let bias: [Float]?
    public let format: TernaryFormat
    public let inFeatures: Int
    public let outFeatures: Int
    public let mode: ActivationMode
    /// Threads per call; 0 uses every online core.
    public var threads: Int = 0

    /// Wraps packed weights without copying them. Throws when a size does not match the shape, when the
    /// shape is not usable, or when a packed byte is not a valid code of `format` (naming the row and byte).
    public init(packed: UnsafeRawBufferPointer, owner: AnyObject?, scale: [Float], bias: [Float]?,
                format: TernaryFormat, inFeatures: Int, outFeatures: Int, mode: ActivationMode) throws {
        guard inFeatures >= 0, outFeatures >= 0 else {
            throw TernaryLinearError("ternary linear shape [\(outFeatures), \(inFeatures)] has a negative dimension")
        }
        if mode == .int8 && inFeatures > 132_104 {
            throw TernaryLinearError("int8 mode supports at most 132104 input features (exact fp32 partial sums), got \(inFeatures)")
        }
        let rowBytes = format.rowBytes(inFeatures: inFeatures)
        guard packed.count == outFeatures * rowBytes else {
            throw TernaryLinearError("packed \(format.rawValue) weight has \(packed.count) bytes, expected \(outFeatures) rows × \(rowBytes) bytes = \(outFeatures * rowBytes) for shape [\(outFeatures), \(inFeatures)]")
        }
        guard scale.count == outFeatures else {
            throw TernaryLinearError("weight scale has \(scale.count) elements, expected \(outFeatures) (one per output feature)")
        }
        if let bias, bias.count != outFeatures {
            throw TernaryLinearError("bias has \(bias.count) elements, expected \(outFeatures)")
        }
        if outFeatures > 0 && inFeatures > 0 {
            var badByte: Int64 = 0
            let badRow = tf_validate_packed(format.cFormat, packed.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                            Int64(outFeatures), Int64(inFeatures), &badByte)
            if badRow >= 0 {
                let value = packed[Int(badRow) * rowBytes + Int(badByte)]
                throw TernaryLinearError("packed \(format.rawValue) weight row \(badRow), byte \(badByte) holds \(value), which is not a valid \(format.rawValue) code")
            }
        }
        self.packed = packed
        self.owner = owner
        self.scale = scale
        self.bias = bias
        self.format = format
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.mode = mode
    }

    /// Packs ternary values `weights` ([outFeatures, inFeatures], each -1, 0 or +1) into owned storage.
    public init(ternary weights: [Int8], scale: [Float], bias: [Float]?, format: TernaryFormat,
                inFeatures: Int, outFeatures: Int, mode: ActivationMode) throws {
        guard inFeatures >= 0, outFeatures >= 0, weights.count == inFeatures * outFeatures else {
            throw TernaryLinearError("ternary weight has \(weights.count) values, expected \(outFeatures) × \(inFeatures)")
        }
        let storage = PackedTernaryStorage(byteCount: outFeatures * format.rowBytes(inFeatures: inFeatures))
        if storage.count > 0 {
            let rc = weights.withUnsafeBufferPointer { w in
                tf_pack(format.cFormat, w.baseAddress!, Int64(outFeatures), Int64(inFeatures),
                        storage.bytes.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
            if rc != 0 {
                let index = weights.firstIndex { $0 < -1 || $0 > 1 } ?? 0
                throw TernaryLinearError("ternary weight value \(weights[index]) at row \(index / max(inFeatures, 1)), column \(index % max(inFeatures, 1)) is not -1, 0 or +1")
            }
        }
        try self.init(packed: storage.contents, owner: storage, scale: scale, bias: bias,
                      format: format, inFeatures: inFeatures, outFeatures: outFeatures, mode: mode)
    }

    /// Bytes of packed weight data (the figure compared with 4 · inFeatures · outFeatures for fp32).
    public var weightBytes: Int { packed.count }

    public func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) {
        let rc = scale.withUnsafeBufferPointer { s in
            withOptionalPointer(bias) { b in
                tf_ternary_gemm(mode.cMode, format.cFormat, x, Int64(rows), Int64(inFeatures),
                                packed.baseAddress?.assumingMemoryBound(to: UInt8.self), s.baseAddress, b,
                                Int64(outFeatures), y, Int32(threads))
            }
        }
        // Arguments were validated at init; only a failed allocation can get here.
        precondition(rc == 0, "ternary GEMM [\(rows)×\(inFeatures)] · [\(outFeatures)×\(inFeatures)]ᵀ failed: \(String(cString: tf_gemm_error_string(rc)))")
    }
}

/// Owned, 64-byte aligned storage for packed ternary weights built in memory.
public final class PackedTernaryStorage: @unchecked Sendable {
    public let bytes: UnsafeMutableRawBufferPointer
    public init(byteCount: Int) {
        bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: max(byteCount, 1), alignment: 64)
        bytes.initializeMemory(as: UInt8.self, repeating: 0)
        count = byteCount
    }
    /// Logical size (the allocation is at least one byte).
    public let count: Int
    /// The `count` bytes as a read-only buffer.
    public var contents: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[0..<count]) }
    deinit { bytes.deallocate() }
}

func withOptionalPointer<R>(_ array: [Float]?, _ body: (UnsafePointer<Float>?) -> R) -> R {
    guard let array else { return body(nil) }
    return array.withUnsafeBufferPointer { body($0.baseAddress) }
}
