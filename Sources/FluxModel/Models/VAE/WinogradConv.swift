import COpenBLAS
import Foundation
import TernaryTensors

/// 3×3 convolution (stride 1, padding 1) by Winograd's minimal filtering F(2×2, 3×3) (Lavin & Gray 2015):
/// each 4×4 input tile d and 3×3 filter g give a 2×2 output Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A, so the channel
/// reduction becomes 16 sgemms [O, C]·[C, tiles] doing 16/36 of the multiplications of the direct form.
/// Inputs are the zero-padded (and possibly upsampled) planes `Conv2D` builds; tiles are processed in bands of
/// tile rows so the transformed buffers stay small. The filter transform is recomputed per call (cheap next to
/// the products) so no second copy of the weights is kept.
extension Conv2D {
    /// U[ξ][o][c] = (G g Gᵀ)[ξ] from the tap-major weights [9][O][C], G = [[1,0,0],[½,½,½],[½,−½,½],[0,0,1]].
    func winogradFilters() -> [Float] {
        let oc = outChannels * inChannels
        var u = [Float](repeating: 0, count: 16 * oc)
        taps.withUnsafeBufferPointer { t in
            u.withUnsafeMutableBufferPointer { up in
                for i in 0..<oc {
                    // Gg (4×3), one column per filter column, in registers: no allocation per filter (this runs
                    // for every output-input channel pair on every call).
                    func column(_ col: Int) -> SIMD4<Double> {
                        let a = Double(t[col * oc + i]), b = Double(t[(3 + col) * oc + i]), c = Double(t[(6 + col) * oc + i])
                        return SIMD4<Double>(a, 0.5 * (a + b + c), 0.5 * (a - b + c), c)
                    }
                    let gg = (column(0), column(1), column(2))
                    // (Gg)Gᵀ (4×4): row r of Gg is (gg.0[r], gg.1[r], gg.2[r])
                    for row in 0..<4 {
                        let (a, b, c) = (gg.0[row], gg.1[row], gg.2[row])
                        up[(row * 4 + 0) * oc + i] = Float(a)
                        up[(row * 4 + 1) * oc + i] = Float(0.5 * (a + b + c))
                        up[(row * 4 + 2) * oc + i] = Float(0.5 * (a - b + c))
                        up[(row * 4 + 3) * oc + i] = Float(c)
                    }
                }
            }
        }
        return u
    }

    /// `padded`: [C][hp][wp] zero-bordered input (image at rows 1...h, cols 1...w); hp ≥ 2·⌈h/2⌉ + 2 and
    /// wp ≥ 2·⌈w/2⌉ + 2 so every tile is inside. Writes [O][h][w] into `y`.
    func winograd(padded: UnsafePointer<Float>, hp: Int, wp: Int, h: Int, w: Int, into y: UnsafeMutablePointer<Float>) {
        let c = inChannels, o = outChannels
        let tilesY = (h + 1) / 2, tilesX = (w + 1) / 2
        let paddedPlane = hp * wp
        let filters = winogradFilters()
        // Bands of tile rows are independent: they are split over the cores (each worker with its own transformed
        // buffers and one OpenBLAS thread), which keeps both cores busy where OpenBLAS' own threading of these
        // small products mostly waits. Every band computes exactly what it computed on one thread.
        let workers = max(1, min(ComputeThreads.count, tilesY))
        let bandTileRows = max(1, min((tilesY + workers - 1) / workers, (4 << 20) / max(1, 16 * max(c, o) * tilesX)))
        let bands = (tilesY + bandTileRows - 1) / bandTileRows
        let maxTiles = bandTileRows * tilesX
        let pa = Int(bitPattern: padded), ya = Int(bitPattern: y)
        if workers > 1 { BLASThreads.useOneThread() } else { BLASThreads.prepare(m: o, n: maxTiles, k: c) }
        filters.withUnsafeBufferPointer { up in
            let ua = Int(bitPattern: up.baseAddress!)
            DispatchQueue.concurrentPerform(iterations: min(workers, bands)) { worker in
                let padded = UnsafePointer<Float>(bitPattern: pa)!, y = UnsafeMutablePointer<Float>(bitPattern: ya)!
                let up = UnsafeBufferPointer<Float>(start: UnsafePointer<Float>(bitPattern: ua)!, count: 16 * o * c)
                let vp = UnsafeMutableBufferPointer<Float>.allocate(capacity: 16 * c * maxTiles)
                let mp = UnsafeMutableBufferPointer<Float>.allocate(capacity: 16 * o * maxTiles)
                defer { vp.deallocate(); mp.deallocate() }
                var band = worker
                while band < bands {
                    let ty0 = band * bandTileRows
                    let rows = min(bandTileRows, tilesY - ty0)
                    let t = rows * tilesX
                    // V[ξ][c][tile] = Bᵀ d B, Bᵀ = [[1,0,−1,0],[0,1,1,0],[0,−1,1,0],[0,1,0,−1]]
                    for ci in 0..<c {
                        let plane = padded + ci * paddedPlane
                        let vc = vp.baseAddress! + ci * t
                        for r in 0..<rows {
                            let top = plane + 2 * (ty0 + r) * wp
                            for tx in 0..<tilesX {
                                let p0 = top + 2 * tx, p1 = p0 + wp, p2 = p1 + wp, p3 = p2 + wp
                                var d = (p0[0] - p2[0], p0[1] - p2[1], p0[2] - p2[2], p0[3] - p2[3])
                                var e = (p1[0] + p2[0], p1[1] + p2[1], p1[2] + p2[2], p1[3] + p2[3])
                                var f = (p2[0] - p1[0], p2[1] - p1[1], p2[2] - p1[2], p2[3] - p1[3])
                                var g = (p1[0] - p3[0], p1[1] - p3[1], p1[2] - p3[2], p1[3] - p3[3])
                                let idx = r * tilesX + tx
                                let stride = c * t
                                @inline(__always) func store(_ row: Int, _ q: inout (Float, Float, Float, Float)) {
                                    let base = vc + idx + row * 4 * stride
                                    base[0] = q.0 - q.2
                                    base[stride] = q.1 + q.2
                                    base[2 * stride] = q.2 - q.1
                                    base[3 * stride] = q.1 - q.3
                                }
                                store(0, &d); store(1, &e); store(2, &f); store(3, &g)
                            }
                        }
                    }
                    // M[ξ] = U[ξ] · V[ξ]
                    for xi in 0..<16 {
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(o), Int32(t), Int32(c),
                                    1, up.baseAddress! + xi * o * c, Int32(c),
                                    vp.baseAddress! + xi * c * t, Int32(t),
                                    0, mp.baseAddress! + xi * o * t, Int32(t))
                    }
                    // Y = Aᵀ M A + bias, Aᵀ = [[1,1,1,0],[0,1,−1,−1]]
                    let stride = o * t
                    for oi in 0..<o {
                        let b = bias[oi]
                        let mo = mp.baseAddress! + oi * t
                        let yo = y + oi * h * w
                        for r in 0..<rows {
                            let oy = 2 * (ty0 + r)
                            for tx in 0..<tilesX {
                                let q = mo + r * tilesX + tx
                                @inline(__always) func at(_ k: Int) -> Float { q[k * stride] }
                                // rows of Aᵀ M (2×4)
                                let s0 = (at(0) + at(4) + at(8), at(1) + at(5) + at(9), at(2) + at(6) + at(10), at(3) + at(7) + at(11))
                                let s1 = (at(4) - at(8) - at(12), at(5) - at(9) - at(13), at(6) - at(10) - at(14), at(7) - at(11) - at(15))
                                let ox = 2 * tx
                                let row0 = yo + oy * w, row1 = row0 + w
                                row0[ox] = s0.0 + s0.1 + s0.2 + b
                                if ox + 1 < w { row0[ox + 1] = s0.1 - s0.2 - s0.3 + b }
                                if oy + 1 < h {
                                    row1[ox] = s1.0 + s1.1 + s1.2 + b
                                    if ox + 1 < w { row1[ox + 1] = s1.1 - s1.2 - s1.3 + b }
                                }
                            }
                        }
                    }
                    band += min(workers, bands)
                }
            }
        }
    }
}
