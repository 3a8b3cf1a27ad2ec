import XCTest
@testable import TernaryTensors

final class TensorTests: XCTestCase {
    func testDenseLinearMatchesNaiveProduct() {
        let (m, k, n) = (3, 5, 4)
        let x = (0..<(m * k)).map { Float($0 % 7) - 3 }
        let w = (0..<(n * k)).map { Float(($0 * 5) % 11) / 4 - 1 }
        let b: [Float] = [0.5, -1, 2, 0]
        let layer = DenseLinear(weight: w, bias: b, inFeatures: k, outFeatures: n)
        let y = layer(Tensor(shape: [m, k], storage: x))
        XCTAssertEqual(y.shape, [m, n])
        for i in 0..<m {
            for j in 0..<n {
                var s = b[j]
                for kk in 0..<k { s += x[i * k + kk] * w[j * k + kk] }
                XCTAssertEqual(y.storage[i * n + j], s, accuracy: 1e-5)
            }
        }
    }
}
