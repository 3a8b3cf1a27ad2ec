import Foundation
import TernaryTensors

/// The element-wise pieces of the FLUX blocks, on raw rows so they can read and write slices of the shared
/// activation buffers in place. Statistics are accumulated in Double (PyTorch's fp32 kernels match to rounding).
/// Every operation splits its rows over the cores (`RowOps.parallel`) when there is enough work; each row is
/// computed exactly as on one thread, so results do not depend on the split.
enum RowOps {
    /// Below this many elements an operation runs on the calling thread (the hand-off costs more than it saves).
    /// A variable so that tests can compare the split computation with the serial one.
    nonisolated(unsafe) static var parallelThreshold = 1 << 15

    /// Runs `body(rowRange)` over `rows` rows split into one contiguous range per core.
    @inline(__always)
    static func parallel(rows: Int, elementsPerRow: Int, _ body: (Range<Int>) -> Void) {
        let cores = ComputeThreads.count
        guard cores > 1, rows > 1, rows * elementsPerRow >= parallelThreshold else {
            body(0..<rows)
            return
        }
        let parts = min(cores, rows)
        let per = (rows + parts - 1) / parts
        withoutActuallyEscaping(body) { body in
            DispatchQueue.concurrentPerform(iterations: parts) { p in
                let lo = p * per, hi = min(rows, lo + per)
                if lo < hi { body(lo..<hi) }
            }
        }
    }

    /// dst = LayerNorm(src) · (1 + scale) + shift (no affine, eps 1e-6), one modulation vector for all rows.
    static func layerNormModulate(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, rows: Int,
                                  dim d: Int, scale: UnsafePointer<Float>, shift: UnsafePointer<Float>,
                                  eps: Double = 1e-6) {
        let sa = Int(bitPattern: src), da = Int(bitPattern: dst)
        let sc = Int(bitPattern: scale), sh = Int(bitPattern: shift)
        parallel(rows: rows, elementsPerRow: d) { range in
            let src = UnsafePointer<Float>(bitPattern: sa)!, dst = UnsafeMutablePointer<Float>(bitPattern: da)!
            let scale = UnsafePointer<Float>(bitPattern: sc)!, shift = UnsafePointer<Float>(bitPattern: sh)!
            for r in range {
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
    }

    /// RMSNorm of every head vector (length `headDim`) of every row, in place, times `weight`; then, when
    /// `rope` is given, the rotary embedding of table rows `firstPosition + r` — one pass over the rows
    /// instead of two (the same operations in the same order as the two done apart).
    static func rmsNormHeads(_ x: UnsafeMutablePointer<Float>, rows: Int, rowStride: Int, heads: Int,
                             headDim: Int, weight: [Float], eps: Double = 1e-6,
                             rope: FluxRotaryTable? = nil, firstPosition: Int = 0) {
        let xa = Int(bitPattern: x)
        weight.withUnsafeBufferPointer { w in
            let wa = Int(bitPattern: w.baseAddress!)
            parallel(rows: rows, elementsPerRow: heads * headDim) { range in
                let x = UnsafeMutablePointer<Float>(bitPattern: xa)!, w = UnsafePointer<Float>(bitPattern: wa)!
                for r in range {
                    for h in 0..<heads {
                        let v = x + r * rowStride + h * headDim
                        var ss = 0.0
                        for i in 0..<headDim { ss += Double(v[i]) * Double(v[i]) }
                        let inv = Float(1.0 / (ss / Double(headDim) + eps).squareRoot())
                        for i in 0..<headDim { v[i] = (v[i] * inv) * w[i] }
                    }
                    rope?.rotate(x + r * rowStride, heads: heads, position: firstPosition + r)
                }
            }
        }
    }

    /// h += gate · y, one gate vector for all rows.
    static func gatedAdd(_ h: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, rows: Int, dim d: Int,
                         gate: UnsafePointer<Float>) {
        let ha = Int(bitPattern: h), ya = Int(bitPattern: y), ga = Int(bitPattern: gate)
        parallel(rows: rows, elementsPerRow: d) { range in
            let h = UnsafeMutablePointer<Float>(bitPattern: ha)!, y = UnsafePointer<Float>(bitPattern: ya)!
            let gate = UnsafePointer<Float>(bitPattern: ga)!
            for r in range {
                let hr = h + r * d, yr = y + r * d
                for i in 0..<d { hr[i] = hr[i] + gate[i] * yr[i] }
            }
        }
    }

    /// dst row r (stride `dstStride`) = gelu_tanh(src row r) (stride `count`); in place when src == dst.
    static func geluTanh(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, rows: Int, count: Int,
                         dstStride: Int) {
        let sa = Int(bitPattern: src), da = Int(bitPattern: dst)
        parallel(rows: rows, elementsPerRow: count) { range in
            let src = UnsafePointer<Float>(bitPattern: sa)!, dst = UnsafeMutablePointer<Float>(bitPattern: da)!
            for r in range {
                let s = src + r * count, o = dst + r * dstStride
                Activation.geluTanh.apply(s, o, count: count)
            }
        }
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
