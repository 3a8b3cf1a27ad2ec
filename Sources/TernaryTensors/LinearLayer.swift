import COpenBLAS

/// y = x · Wᵀ + b over the last axis: [..., inFeatures] → [..., outFeatures].
/// Implemented by full-precision weights (OpenBLAS) and by packed ternary weights (the C kernels).
public protocol LinearLayer: Sendable {
    var inFeatures: Int { get }
    var outFeatures: Int { get }
    /// Computes `rows` output rows from `rows` input rows, both contiguous.
    func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>)
}

extension LinearLayer {
    public func callAsFunction(_ x: Tensor) -> Tensor {
        precondition(x.lastDim == inFeatures,
                     "linear layer expects \(inFeatures) input features, got shape \(x.shape)")
        var outShape = x.shape
        outShape[outShape.count - 1] = outFeatures
        var y = Tensor(zeros: outShape)
        let rows = x.rows
        x.storage.withUnsafeBufferPointer { xp in
            y.storage.withUnsafeMutableBufferPointer { yp in
                apply(xp.baseAddress!, rows: rows, into: yp.baseAddress!)
            }
        }
        return y
    }
}

/// A linear layer with fp32 weights [out, in], multiplied through OpenBLAS sgemm.
public struct DenseLinear: LinearLayer {
    public let weight: [Float]   // [outFeatures, inFeatures], row-major (PyTorch's nn.Linear layout)
    public let bias: [Float]?
    public let inFeatures: Int
    public let outFeatures: Int

    public init(weight: [Float], bias: [Float]?, inFeatures: Int, outFeatures: Int) {
        precondition(weight.count == inFeatures * outFeatures, "weight has \(weight.count) elements, expected \(outFeatures)×\(inFeatures)")
        precondition(bias == nil || bias!.count == outFeatures, "bias has \(bias!.count) elements, expected \(outFeatures)")
        self.weight = weight
        self.bias = bias
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
    }

    public func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) {
        guard rows > 0, outFeatures > 0 else { return }
        if let bias {
            for r in 0..<rows { (y + r * outFeatures).update(from: bias, count: outFeatures) }
        }
        guard inFeatures > 0 else {
            if bias == nil { y.update(repeating: 0, count: rows * outFeatures) }
            return
        }
        BLASThreads.prepare(m: rows, n: outFeatures, k: inFeatures)
        weight.withUnsafeBufferPointer { w in
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
                        Int32(rows), Int32(outFeatures), Int32(inFeatures),
                        1, x, Int32(inFeatures), w.baseAddress, Int32(inFeatures),
                        bias == nil ? 0 : 1, y, Int32(outFeatures))
        }
    }
}
