import XCTest
@testable import FluxModel
import TernaryTensors

final class ActivationTests: XCTestCase {
    func testGeluVariantsAtKnownPoints() {
        // Values from torch.nn.functional.gelu(torch.tensor(1.0)) and approximate="tanh".
        XCTAssertEqual(Activation.gelu.apply(1), 0.8413447, accuracy: 1e-6)
        XCTAssertEqual(Activation.geluTanh.apply(1), 0.8411920, accuracy: 1e-6)
        XCTAssertEqual(Activation.quickGelu.apply(1), 1 / (1 + expf(-1.702)), accuracy: 1e-7)
        XCTAssertEqual(Activation.silu.apply(-2), -2 / (1 + expf(2)), accuracy: 1e-7)
    }

    func testLayerNormZeroMeanUnitVariance() {
        let x = Tensor(shape: [2, 4], storage: [1, 2, 3, 4, -1, 0, 1, 10])
        let y = Normalization.layerNorm(x, weight: nil, bias: nil, eps: 1e-6)
        for r in 0..<2 {
            let row = Array(y.storage[(r * 4)..<(r * 4 + 4)])
            XCTAssertEqual(row.reduce(0, +) / 4, 0, accuracy: 1e-6)
            XCTAssertEqual(row.map { $0 * $0 }.reduce(0, +) / 4, 1, accuracy: 1e-4)
        }
    }
}
