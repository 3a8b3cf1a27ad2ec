import Foundation
import TernaryTensors

/// The element-wise pieces of the FLUX blocks, on raw rows so they can read and write slices of the shared
/// activation buffers in place. Statistics are accumulated in Double (PyTorch's fp32 kernels match to rounding).
enum RowOps {
    /// dst = LayerNorm(src) · (1 + scale) + shift (no affine, eps 1e-6), one modulation vector for all rows.
    static func layerNormModulate(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, rows: Int,
                                  dim d: Int, scale: UnsafePointer<Float>, shift: UnsafePointer<Float>,
                                  eps: Double = 1e-6) {
        for r in 0..<rows {
            let x = src + r * d, y = dst + r * d
            var mean = 0.0
            for i in 0..<d { mean += Double(x[i]) }
            mean /= Double(d)
            var variance = 0.0
            for i in 0..<d { let c = Double(x[i]) - mean; variance += c * c }
            variance /= Double(d)
            let inv = Float(1.0 / (variance + eps).squareRoot())
            let m = Float(mean)
            for i in 0..<d { y[i] = ((x[i] - m) * inv) * (1 + scale[i]) + shift[i] }
        }
    }

    /// RMSNorm of every head vector (length `headDim`) of every row, in place, times `weight`.
    static func rmsNormHeads(_ x: UnsafeMutablePointer<Float>, rows: Int, rowStride: Int, heads: Int,
                             headDim: Int, weight: [Float], eps: Double = 1e-6) {
        weight.withUnsafeBufferPointer { w in
            for r in 0..<rows {
                for h in 0..<heads {
                    let v = x + r * rowStride + h * headDim
                    var ss = 0.0
                    for i in 0..<headDim { ss += Double(v[i]) * Double(v[i]) }
                    let inv = Float(1.0 / (ss / Double(headDim) + eps).squareRoot())
                    for i in 0..<headDim { v[i] = (v[i] * inv) * w[i] }
                }
            }
        }
    }

    /// h += gate · y, one gate vector for all rows.
    static func gatedAdd(_ h: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, rows: Int, dim d: Int,
                         gate: UnsafePointer<Float>) {
        for r in 0..<rows {
            let hr = h + r * d, yr = y + r * d
            for i in 0..<d { hr[i] = hr[i] + gate[i] * yr[i] }
        }
    }

    /// tanh-approximated GELU (nn.GELU(approximate="tanh")) in place.
    static func geluTanh(_ x: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { x[i] = Activation.geluTanh.apply(x[i]) }
    }

    /// SiLU of a whole tensor (the shared input of every AdaLayerNorm projection).
    static func silu(_ t: Tensor) -> Tensor {
        Activation.silu(t)
    }
}

extension LinearLayer {
    /// Applies the layer to `rows` rows starting at row `first` of `x` (stride inFeatures), writing the
    /// matching rows of `y` (stride outFeatures).
    @inline(__always)
    func apply(_ x: UnsafePointer<Float>, rows: Int, first: Int, into y: UnsafeMutablePointer<Float>) {
        guard rows > 0 else { return }
        apply(x + first * inFeatures, rows: rows, into: y + first * outFeatures)
    }
}
