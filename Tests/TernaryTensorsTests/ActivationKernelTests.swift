import CTernaryKernels
import Foundation
import XCTest

/// The vectorised activations (ternary_activations.h) against the libm formulas, on every ISA path this CPU
/// runs, over the whole useful range, the extremes and NaN.
final class ActivationKernelTests: XCTestCase {
    override func tearDown() {
        _ = tf_set_isa(tf_detect_isa())
    }

    private var paths: [tf_isa] {
        TernaryGemmTests.paths
    }

    /// 20 001 points on [-100, 100] plus the edges of exp's range, infinities, and a length that is not a
    /// multiple of 8 (so the scalar tail runs too).
    private let inputs: [Float] = {
        var x = (0...20_000).map { Float($0) / 100 - 100 }
        x += [-87.3, -87.4, -88, 88.7, 88.72, 89, -1e-30, 1e-30, 0, -0.0, .infinity, -.infinity, 3]
        return x
    }()

    private func check(_ name: String, _ got: [Float], _ want: [Float], relative: Float, absolute: Float) {
        var worst: Float = 0, at = 0
        for i in got.indices where want[i].isFinite {
            let err = abs(got[i] - want[i]) / max(abs(want[i]), absolute / relative)
            if err > worst { worst = err; at = i }
        }
        XCTAssertLessThanOrEqual(worst, relative, "\(name): worst at x = \(inputs[at]): \(got[at]) vs \(want[at])")
        for i in got.indices where !want[i].isFinite {
            XCTAssertTrue(want[i].isNaN ? got[i].isNaN : got[i] == want[i], "\(name) at x = \(inputs[i]): \(got[i]) vs \(want[i])")
        }
    }

    func testSiLUMatchesTheFormula() {
        let want = inputs.map { $0 / (1 + expf(-$0)) }
        for isa in paths {
            XCTAssertEqual(tf_set_isa(isa), 0)
            var got = [Float](repeating: .nan, count: inputs.count)
            tf_silu_f32(inputs, &got, inputs.count)
            check("silu \(String(cString: tf_isa_name(isa)))", got, want, relative: 1e-6, absolute: 1e-30)
        }
    }

    func testAffineSiLUMatchesTheFormula() {
        let scale: Float = 0.37, shift: Float = -1.25
        let want = inputs.map { v -> Float in let y = v * scale + shift; return y / (1 + expf(-y)) }
        for isa in paths {
            XCTAssertEqual(tf_set_isa(isa), 0)
            var got = inputs
            tf_affine_silu_f32(&got, got.count, scale, shift)
            // The vector path fuses x·scale + shift into one rounding (FMA): near silu's zero the two roundings
            // differ by ~1e-7 absolute.
            check("affine silu \(String(cString: tf_isa_name(isa)))", got, want, relative: 2e-6, absolute: 1e-6)
        }
    }

    func testGeluTanhMatchesPyTorchsFormula() {
        let want = inputs.map { x -> Float in 0.5 * x * (1 + tanhf(0.7978845608028654 * (x + 0.044715 * x * x * x))) }
        for isa in paths {
            XCTAssertEqual(tf_set_isa(isa), 0)
            var got = [Float](repeating: .nan, count: inputs.count)
            tf_gelu_tanh_f32(inputs, &got, inputs.count)
            // Near x = 0 the value is ~x/2 and 1 + tanh loses a few bits in either form; elsewhere both agree to 1e-6.
            check("gelu tanh \(String(cString: tf_isa_name(isa)))", got, want, relative: 1e-6, absolute: 1e-7)
        }
    }

    func testExpShiftedSumIsASoftmaxDenominator() {
        let finite = inputs.filter { $0.isFinite && $0 <= 88 }
        let shift: Float = 88
        let want = finite.map { expf($0 - shift) }
        let wantSum = want.reduce(0.0) { $0 + Double($1) }
        for isa in paths {
            XCTAssertEqual(tf_set_isa(isa), 0)
            var got = finite
            let sum = tf_exp_shifted_sum_f32(&got, got.count, shift)
            // Below e^-87.34 (under FLT_MIN) the vector path returns 0.
            for i in got.indices {
                XCTAssertLessThanOrEqual(abs(got[i] - want[i]), 2e-7 * want[i] + Float.leastNormalMagnitude,
                                         "exp(\(finite[i]) - \(shift)) \(String(cString: tf_isa_name(isa)))")
            }
            XCTAssertEqual(Double(sum), wantSum, accuracy: wantSum * 1e-5)
        }
    }

    func testNaNPropagates() {
        for isa in paths {
            XCTAssertEqual(tf_set_isa(isa), 0)
            var x = [Float](repeating: .nan, count: 9)
            tf_silu_f32(x, &x, x.count)
            XCTAssertTrue(x.allSatisfy(\.isNaN), "silu \(x)")
            tf_gelu_tanh_f32(x, &x, x.count)
            XCTAssertTrue(x.allSatisfy(\.isNaN), "gelu \(x)")
            _ = tf_exp_shifted_sum_f32(&x, x.count, 0)
            XCTAssertTrue(x.allSatisfy(\.isNaN), "exp \(x)")
        }
    }
}
