import Foundation
import TernaryTensors

/// Buffers shared by all blocks of one forward pass, laid out per batch item as the joint sequence
/// [text (T rows), image (S rows)] of width `dim`, so that no block ever concatenates or splits.
/// Every element is written before it is read in each pass, so a workspace is reused from step to step
/// (`FluxTransformer` keeps the last one) without clearing.
final class FluxWorkspace {
    let batch: Int, textLength: Int, imageLength: Int, dim: Int, mlp: Int
    var n: Int { textLength + imageLength }
    /// Residual stream [batch·n, dim].
    let h: UnsafeMutablePointer<Float>
    /// Normalised input of the projections; reused for the attention output of double blocks.
    let x: UnsafeMutablePointer<Float>
    let q: UnsafeMutablePointer<Float>, k: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>
    /// Feed-forward hidden rows / single-block MLP rows [batch·n, mlp].
    let f: UnsafeMutablePointer<Float>
    /// Single blocks' proj_out input [attention (dim) | gelu(mlp) (mlp)]; empty without single blocks.
    let cat: UnsafeMutablePointer<Float>
    private let buffers: [(UnsafeMutablePointer<Float>, Int)]

    init(batch: Int, textLength: Int, imageLength: Int, dim: Int, mlp: Int, singleBlocks: Bool) {
        self.batch = batch; self.textLength = textLength; self.imageLength = imageLength
        self.dim = dim; self.mlp = mlp
        let rows = batch * (textLength + imageLength)
        func zeros(_ count: Int) -> (UnsafeMutablePointer<Float>, Int) {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
            p.initialize(repeating: 0, count: max(count, 1))
            return (p, max(count, 1))
        }
        let all = [zeros(rows * dim), zeros(rows * dim), zeros(rows * dim), zeros(rows * dim), zeros(rows * dim),
                   zeros(rows * mlp), zeros(singleBlocks ? rows * (dim + mlp) : 0)]
        (h, x, q, k, v, f, cat) = (all[0].0, all[1].0, all[2].0, all[3].0, all[4].0, all[5].0, all[6].0)
        buffers = all
    }

    deinit {
        for (p, count) in buffers { p.deinitialize(count: count); p.deallocate() }
    }
}

/// One `FluxTransformerBlock` (double stream): separate weights for the text and image rows, joint attention.
struct FluxDoubleBlock {
    let norm1: any LinearLayer, norm1Context: any LinearLayer
    let toQ: any LinearLayer, toK: any LinearLayer, toV: any LinearLayer
    let addQ: any LinearLayer, addK: any LinearLayer, addV: any LinearLayer
    let toOut: any LinearLayer, toAddOut: any LinearLayer
    let normQ: [Float], normK: [Float], normAddedQ: [Float], normAddedK: [Float]
    let ff1: any LinearLayer, ff2: any LinearLayer
    let ffContext1: any LinearLayer, ffContext2: any LinearLayer

    func callAsFunction(_ w: FluxWorkspace, siluTemb: Tensor, rope: FluxRotaryTable, heads: Int, headDim: Int) {
        let d = w.dim, t = w.textLength, s = w.imageLength, n = w.n, mlp = w.mlp
        // AdaLayerNormZero: (shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp) per batch item.
        let mod = norm1(siluTemb).storage, modC = norm1Context(siluTemb).storage
        let (H, X, Q, K, V, F) = (w.h, w.x, w.q, w.k, w.v, w.f)
        mod.withUnsafeBufferPointer { mp in
        modC.withUnsafeBufferPointer { mcp in
            for b in 0..<w.batch {
                let m = mp.baseAddress! + b * 6 * d, mc = mcp.baseAddress! + b * 6 * d
                let txt = b * n, img = b * n + t
                RowOps.layerNormModulate(H + img * d, X + img * d, rows: s, dim: d, scale: m + d, shift: m)
                RowOps.layerNormModulate(H + txt * d, X + txt * d, rows: t, dim: d, scale: mc + d, shift: mc)
                toQ.apply(X, rows: s, first: img, into: Q)
                toK.apply(X, rows: s, first: img, into: K)
                toV.apply(X, rows: s, first: img, into: V)
                addQ.apply(X, rows: t, first: txt, into: Q)
                addK.apply(X, rows: t, first: txt, into: K)
                addV.apply(X, rows: t, first: txt, into: V)
                // q/k RMSNorm and RoPE in one pass; the joint sequence is [text (positions 0..<t), image].
                RowOps.rmsNormHeads(Q + img * d, rows: s, rowStride: d, heads: heads, headDim: headDim, weight: normQ,
                                    rope: rope, firstPosition: t)
                RowOps.rmsNormHeads(K + img * d, rows: s, rowStride: d, heads: heads, headDim: headDim, weight: normK,
                                    rope: rope, firstPosition: t)
                RowOps.rmsNormHeads(Q + txt * d, rows: t, rowStride: d, heads: heads, headDim: headDim,
                                    weight: normAddedQ, rope: rope, firstPosition: 0)
                RowOps.rmsNormHeads(K + txt * d, rows: t, rowStride: d, heads: heads, headDim: headDim,
                                    weight: normAddedK, rope: rope, firstPosition: 0)
            }
            // Attention output goes to X (the normalised input is no longer needed).
            BlockedAttention.run(q: Q, k: K, v: V, rowStride: d, batch: w.batch, n: n, heads: heads,
                                 headDim: headDim, out: X, outStride: d)
            for b in 0..<w.batch {
                let m = mp.baseAddress! + b * 6 * d, mc = mcp.baseAddress! + b * 6 * d
                let txt = b * n, img = b * n + t
                // Output projections into Q (free after attention), gated residuals.
                toOut.apply(X, rows: s, first: img, into: Q)
                toAddOut.apply(X, rows: t, first: txt, into: Q)
                RowOps.gatedAdd(H + img * d, Q + img * d, rows: s, dim: d, gate: m + 2 * d)
                RowOps.gatedAdd(H + txt * d, Q + txt * d, rows: t, dim: d, gate: mc + 2 * d)
                // Feed-forwards on norm2(h)·(1 + scale_mlp) + shift_mlp.
                RowOps.layerNormModulate(H + img * d, X + img * d, rows: s, dim: d, scale: m + 4 * d, shift: m + 3 * d)
                RowOps.layerNormModulate(H + txt * d, X + txt * d, rows: t, dim: d, scale: mc + 4 * d, shift: mc + 3 * d)
                ff1.apply(X, rows: s, first: img, into: F)
                ffContext1.apply(X, rows: t, first: txt, into: F)
                RowOps.geluTanh(F + txt * mlp, F + txt * mlp, rows: n, count: mlp, dstStride: mlp)
                ff2.apply(F, rows: s, first: img, into: Q)
                ffContext2.apply(F, rows: t, first: txt, into: Q)
                RowOps.gatedAdd(H + img * d, Q + img * d, rows: s, dim: d, gate: m + 5 * d)
                RowOps.gatedAdd(H + txt * d, Q + txt * d, rows: t, dim: d, gate: mc + 5 * d)
            }
        }}
    }
}

/// One `FluxSingleTransformerBlock`: attention and MLP in parallel over the joint sequence.
struct FluxSingleBlock {
    let norm: any LinearLayer
    let toQ: any LinearLayer, toK: any LinearLayer, toV: any LinearLayer
    let normQ: [Float], normK: [Float]
    let projMLP: any LinearLayer, projOut: any LinearLayer

    func callAsFunction(_ w: FluxWorkspace, siluTemb: Tensor, rope: FluxRotaryTable, heads: Int, headDim: Int) {
        let d = w.dim, n = w.n, mlp = w.mlp, cw = d + mlp
        // AdaLayerNormZeroSingle: (shift, scale, gate).
        let mod = norm(siluTemb).storage
        let (H, X, Q, K, V, F, C) = (w.h, w.x, w.q, w.k, w.v, w.f, w.cat)
        mod.withUnsafeBufferPointer { mp in
            let rows = w.batch * n
            for b in 0..<w.batch {
                let m = mp.baseAddress! + b * 3 * d
                RowOps.layerNormModulate(H + b * n * d, X + b * n * d, rows: n, dim: d, scale: m + d, shift: m)
            }
            projMLP.apply(X, rows: rows, into: F)
            // gelu(mlp) into the right-hand columns of the concatenation.
            RowOps.geluTanh(F, C + d, rows: rows, count: mlp, dstStride: cw)
            toQ.apply(X, rows: rows, into: Q)
            toK.apply(X, rows: rows, into: K)
            toV.apply(X, rows: rows, into: V)
            for b in 0..<w.batch {
                RowOps.rmsNormHeads(Q + b * n * d, rows: n, rowStride: d, heads: heads, headDim: headDim, weight: normQ,
                                    rope: rope, firstPosition: 0)
                RowOps.rmsNormHeads(K + b * n * d, rows: n, rowStride: d, heads: heads, headDim: headDim, weight: normK,
                                    rope: rope, firstPosition: 0)
            }
            // Attention output straight into the left-hand columns of the concatenation.
            BlockedAttention.run(q: Q, k: K, v: V, rowStride: d, batch: w.batch, n: n, heads: heads,
                                 headDim: headDim, out: C, outStride: cw)
            projOut.apply(C, rows: rows, into: Q)
            for b in 0..<w.batch {
                let m = mp.baseAddress! + b * 3 * d
                RowOps.gatedAdd(H + b * n * d, Q + b * n * d, rows: n, dim: d, gate: m + 2 * d)
            }
        }
    }
}
