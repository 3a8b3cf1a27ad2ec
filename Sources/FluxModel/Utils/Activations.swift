import Foundation
import TernaryTensors
import CTernaryKernels

/// Element-wise activations used by the FLUX transformer, CLIP, T5 and the VAE, with the exact
/// formulas of PyTorch (gelu "tanh" approximation vs erf, quick_gelu = x·σ(1.702x)).
public enum Activation: String, Codable, Sendable {
    case gelu              // exact, erf-based (torch.nn.functional.gelu)
    case geluTanh = "gelu_pytorch_tanh"
    case geluNew = "gelu_new"      // transformers' tanh approximation, same formula as gelu_pytorch_tanh
    case quickGelu = "quick_gelu"
    case silu
    case relu

    @inline(__always)
    public func apply(_ x: Float) -> Float {
        switch self {
        case .gelu:
            return 0.5 * x * (1 + erff(x * 0.70710678118654752440))
        case .geluTanh, .geluNew:
            let inner = 0.7978845608028654 * (x + 0.044715 * x * x * x)
            return 0.5 * x * (1 + tanhf(inner))
        case .quickGelu:
            return x / (1 + expf(-1.702 * x))
        case .silu:
            return x / (1 + expf(-x))
        case .relu:
            return max(x, 0)
        }
    }

    public func apply(inPlace t: inout Tensor) {
        t.storage.withUnsafeMutableBufferPointer { p in
            guard let base = p.baseAddress else { return }
            apply(base, base, count: p.count)
        }
    }

    /// dst[i] = f(src[i]) for `count` elements (dst may equal src). SiLU and the tanh GELU take the vectorised
    /// kernels (ternary_activations.h); the rest the scalar formula.
    @inline(__always)
    public func apply(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        switch self {
        case .silu: tf_silu_f32(src, dst, count)
        case .geluTanh, .geluNew: tf_gelu_tanh_f32(src, dst, count)
        default: for i in 0..<count { dst[i] = apply(src[i]) }
        }
    }

    public func callAsFunction(_ t: Tensor) -> Tensor {
        var out = t
        apply(inPlace: &out)
        return out
    }
}
