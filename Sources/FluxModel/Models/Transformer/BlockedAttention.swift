import COpenBLAS
import CTernaryKernels
import Foundation
import TernaryTensors

/// Unmasked multi-head scaled-dot-product attention, computed a block of query rows at a time so that at
/// most `blockRows × n` scores per worker exist at once (never the full [heads, n, n] matrix).
/// Q, K and V stay in the projection layout [batch, n, rowStride] with head h at columns h·headDim, so no
/// head transposes are made; both GEMMs read them in place through OpenBLAS leading dimensions.
enum BlockedAttention {
    static let defaultBlockRows = 128

    static func run(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, rowStride: Int,
                    batch: Int, n: Int, heads: Int, headDim: Int,
                    out: UnsafeMutablePointer<Float>, outStride: Int,
                    blockRows: Int = defaultBlockRows) {
        guard batch > 0, n > 0, heads > 0 else { return }
        let rb = max(1, min(blockRows, n))
        let blocksPerHead = (n + rb - 1) / rb
        let tasks = batch * heads * blocksPerHead
        let scale = Float(1.0 / Double(headDim).squareRoot())
        // Addresses travel as integers into the concurrent workers.
        let qa = Int(bitPattern: q), ka = Int(bitPattern: k), va = Int(bitPattern: v)
        let oa = Int(bitPattern: out)

        // Each task is one small GEMM pair; OpenBLAS' own threads would only fight the task-level parallelism.
        BLASThreads.useOneThread()

        let workers = max(1, min(ComputeThreads.count, tasks))
        let tasksPerWorker = (tasks + workers - 1) / workers
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            // One score block and one row of softmax sums per worker, reused for all its tasks.
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: rb * n)
            let inverseSums = UnsafeMutablePointer<Float>.allocate(capacity: rb)
            defer { scores.deallocate(); inverseSums.deallocate() }
            let q = UnsafePointer<Float>(bitPattern: qa)!, k = UnsafePointer<Float>(bitPattern: ka)!
            let v = UnsafePointer<Float>(bitPattern: va)!, out = UnsafeMutablePointer<Float>(bitPattern: oa)!
            let first = w * tasksPerWorker
            let last = min(tasks, first + tasksPerWorker)
            var task = first
            while task < last {
                let block = task % blocksPerHead
                let h = (task / blocksPerHead) % heads
                let b = task / (blocksPerHead * heads)
                let r0 = block * rb
                let rows = min(rb, n - r0)
                let base = b * n * rowStride + h * headDim
                let qb = q + base + r0 * rowStride
                let kb = k + base, vb = v + base
                let ob = out + b * n * outStride + h * headDim + r0 * outStride
                // scores[rows, n] = scale · Q_block · Kᵀ
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(n), Int32(headDim),
                            scale, qb, Int32(rowStride), kb, Int32(rowStride), 0, scores, Int32(n))
                for r in 0..<rows {
                    let s = scores + r * n
                    var m = -Float.infinity
                    for j in 0..<n where s[j] > m { m = s[j] }
                    inverseSums[r] = 1 / tf_exp_shifted_sum_f32(s, n, m)
                }
                // out_block[rows, headDim] = P · V, then each row divided by its softmax sum.
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(headDim), Int32(n),
                            1, scores, Int32(n), vb, Int32(rowStride), 0, ob, Int32(outStride))
                for r in 0..<rows {
                    let o = ob + r * outStride
                    let inv = inverseSums[r]
                    for j in 0..<headDim { o[j] *= inv }
                }
                task += 1
            }
        }
    }
}
