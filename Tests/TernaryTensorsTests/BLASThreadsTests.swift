import COpenBLAS
import TernaryTensors
import XCTest

/// The OpenBLAS thread policy: small products on one thread, large ones on all OpenBLAS has, and results that
/// do not depend on the choice.
final class BLASThreadsTests: XCTestCase {
    func testSmallProductsRunOnOneThreadAndLargeOnesOnAll() {
        BLASThreads.prepare(m: 4096, n: 4096, k: 4096)
        let full = openblas_get_num_threads()
        XCTAssertGreaterThanOrEqual(full, 1)
        BLASThreads.prepare(m: 96, n: 288, k: 96)
        XCTAssertEqual(openblas_get_num_threads(), 1)
        BLASThreads.prepare(m: 256, n: 256, k: 128)   // exactly the threshold: not small
        XCTAssertEqual(openblas_get_num_threads(), full)
        BLASThreads.useOneThread()
        XCTAssertEqual(openblas_get_num_threads(), 1)
        BLASThreads.prepare(m: 1024, n: 1024, k: 64)
        XCTAssertEqual(openblas_get_num_threads(), full)
    }

    func testALinearLayerGivesTheSameRowsEitherSide() throws {
        // 296 × 300 × 100 = 8.9M multiply-adds (OpenBLAS threads) against the same layer applied to 8 rows (one thread).
        let inF = 100, outF = 300, rows = 296
        let weights = (0..<(inF * outF)).map { Float(($0 * 37) % 101) / 101 - 0.5 }
        let bias = (0..<outF).map { Float($0 % 7) / 7 }
        let layer = DenseLinear(weight: weights, bias: bias, inFeatures: inF, outFeatures: outF)
        let x = (0..<(rows * inF)).map { Float(($0 * 13) % 29) / 29 - 0.5 }
        var big = [Float](repeating: 0, count: rows * outF)
        x.withUnsafeBufferPointer { xp in big.withUnsafeMutableBufferPointer { layer.apply(xp.baseAddress!, rows: rows, into: $0.baseAddress!) } }
        for r0 in stride(from: 0, to: rows, by: 8) {
            var small = [Float](repeating: 0, count: 8 * outF)
            x.withUnsafeBufferPointer { xp in
                small.withUnsafeMutableBufferPointer { layer.apply(xp.baseAddress! + r0 * inF, rows: 8, into: $0.baseAddress!) }
            }
            for i in 0..<(8 * outF) {
                XCTAssertEqual(small[i], big[r0 * outF + i], accuracy: 1e-4, "row \(r0 + i / outF)")
            }
        }
    }
}
