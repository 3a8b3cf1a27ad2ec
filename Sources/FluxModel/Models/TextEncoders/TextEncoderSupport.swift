import COpenBLAS
import Foundation
import TernaryTensors
import CTernaryKernels

/// Why a text encoder could not be loaded or run. Every case names the file, tensor or field at fault.
public enum TextEncoderError: Error, CustomStringConvertible, Equatable {
    case missingFile(path: String)
    case invalidConfig(path: String, field: String, reason: String)
    case missingTensor(component: String, tensor: String)
    case shapeMismatch(component: String, tensor: String, expected: [Int], actual: [Int])
    case tokenOutOfRange(component: String, position: Int, id: Int, vocabularySize: Int)
    case sequenceTooLong(component: String, length: Int, maximum: Int)

    public var description: String {
        switch self {
        case .missingFile(let path):
            return "text encoder file not found: \(path)"
        case .invalidConfig(let path, let field, let reason):
            return "invalid text encoder config \(path): field `\(field)`: \(reason)"
        case .missingTensor(let component, let tensor):
            return "\(component): weight tensor '\(tensor)' is missing"
        case .shapeMismatch(let component, let tensor, let expected, let actual):
            return "\(component): tensor '\(tensor)' has shape \(actual), the config implies \(expected)"
        case .tokenOutOfRange(let component, let position, let id, let size):
            return "\(component): token id \(id) at position \(position) is outside the vocabulary of \(size)"
        case .sequenceTooLong(let component, let length, let maximum):
            return "\(component): sequence of \(length) tokens is longer than the \(maximum) positions the model has"
        }
    }
}

/// Reads a config.json into a Codable config, turning decoding failures into errors naming the field.
enum TextEncoderConfigLoader {
    static func load<C: Decodable>(_ type: C.Type, from url: URL) throws -> C {
        guard FileManager.default.fileExists(atPath: url.path) else { throw TextEncoderError.missingFile(path: url.path) }
        let data = try Data(contentsOf: url)
        do {
            return try JSONDecoder().decode(C.self, from: data)
        } catch let DecodingError.keyNotFound(key, context) {
            throw TextEncoderError.invalidConfig(path: url.path, field: (context.codingPath + [key]).map(\.stringValue).joined(separator: "."), reason: "missing")
        } catch let DecodingError.typeMismatch(_, context) {
            throw TextEncoderError.invalidConfig(path: url.path, field: context.codingPath.map(\.stringValue).joined(separator: "."), reason: context.debugDescription)
        } catch let DecodingError.valueNotFound(_, context) {
            throw TextEncoderError.invalidConfig(path: url.path, field: context.codingPath.map(\.stringValue).joined(separator: "."), reason: "null")
        } catch let DecodingError.dataCorrupted(context) {
            throw TextEncoderError.invalidConfig(path: url.path, field: context.codingPath.map(\.stringValue).joined(separator: "."), reason: context.debugDescription)
        }
    }
}

/// Weight access with the shape checks every encoder needs.
struct EncoderWeights {
    let source: any WeightSource
    let component: String

    func floats(_ name: String, shape: [Int]) throws -> [Float] {
        guard source.contains(name) else { throw TextEncoderError.missingTensor(component: component, tensor: name) }
        let actual = try source.shape(name)
        guard actual == shape else {
            throw TextEncoderError.shapeMismatch(component: component, tensor: name, expected: shape, actual: actual)
        }
        return try source.tensor(name).storage
    }

    func linear(_ prefix: String, in inFeatures: Int, out outFeatures: Int, mode: ActivationMode) throws -> any LinearLayer {
        let weight = prefix + ".weight"
        guard source.contains(weight) else { throw TextEncoderError.missingTensor(component: component, tensor: weight) }
        let layer = try source.linear(prefix, mode: mode)
        guard layer.inFeatures == inFeatures, layer.outFeatures == outFeatures else {
            throw TextEncoderError.shapeMismatch(component: component, tensor: weight, expected: [outFeatures, inFeatures],
                                                 actual: [layer.outFeatures, layer.inFeatures])
        }
        return layer
    }
}

/// Multi-head softmax attention over one sequence, heads read in place from [T, H·d] projections with
/// OpenBLAS; the probabilities are computed in fp32 as PyTorch does.
enum TextAttention {
    /// - Parameters:
    ///   - bias: optional additive relative position bias (T5), looked up per head from a [T, T] bucket table.
    ///   - causal: position i attends to j ≤ i only (CLIP).
    static func run(q: Tensor, k: Tensor, v: Tensor, tokens t: Int, heads: Int, headDim d: Int, scale: Float,
                    causal: Bool, bias: RelativePositionBias?) -> Tensor {
        let width = heads * d
        precondition(q.count == t * width && k.count == t * width && v.count == t * width, "attention input shapes")
        var out = Tensor(zeros: [t, width])
        guard t > 0 else { return out }
        var scores = [Float](repeating: 0, count: t * t)
        q.storage.withUnsafeBufferPointer { qp in
        k.storage.withUnsafeBufferPointer { kp in
        v.storage.withUnsafeBufferPointer { vp in
        out.storage.withUnsafeMutableBufferPointer { op in
        scores.withUnsafeMutableBufferPointer { sp in
            BLASThreads.prepare(m: t, n: t, k: d)
            for h in 0..<heads {
                let offset = h * d
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(t), Int32(t), Int32(d), scale,
                            qp.baseAddress! + offset, Int32(width), kp.baseAddress! + offset, Int32(width),
                            0, sp.baseAddress!, Int32(t))
                for i in 0..<t {
                    let row = sp.baseAddress! + i * t
                    let visible = causal ? i + 1 : t
                    if let bias {
                        bias.buckets.withUnsafeBufferPointer { bucketRow in
                            bias.table.withUnsafeBufferPointer { table in
                                let buckets = bucketRow.baseAddress! + i * t
                                for j in 0..<visible { row[j] += table[Int(buckets[j]) * heads + h] }
                            }
                        }
                    }
                    var m = -Float.infinity
                    for j in 0..<visible { m = max(m, row[j]) }
                    let inv = 1 / tf_exp_shifted_sum_f32(row, visible, m)
                    for j in 0..<visible { row[j] *= inv }
                    for j in visible..<t { row[j] = 0 }
                }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(t), Int32(d), Int32(t), 1,
                            sp.baseAddress!, Int32(t), vp.baseAddress! + offset, Int32(width),
                            0, op.baseAddress! + offset, Int32(width))
            }
        }}}}}
        return out
    }
}

/// T5's relative position bias without materialising [H, T, T]: a [T, T] table of bucket indices and the
/// learned [buckets, heads] embedding.
struct RelativePositionBias {
    let buckets: [Int32]
    let table: [Float]
}

enum TextEncoderMath {
    /// x += y element-wise (residual connections).
    static func addInPlace(_ x: inout Tensor, _ y: Tensor) {
        precondition(x.count == y.count, "residual shapes \(x.shape) and \(y.shape)")
        x.storage.withUnsafeMutableBufferPointer { a in
            y.storage.withUnsafeBufferPointer { b in
                for i in a.indices { a[i] += b[i] }
            }
        }
    }

    /// Rows of an embedding table [vocabulary, width] for `ids`.
    static func embed(_ ids: [Int], table: [Float], width: Int, vocabulary: Int, component: String) throws -> Tensor {
        var out = Tensor(zeros: [ids.count, width])
        for (position, id) in ids.enumerated() {
            guard id >= 0 && id < vocabulary else {
                throw TextEncoderError.tokenOutOfRange(component: component, position: position, id: id, vocabularySize: vocabulary)
            }
            out.storage.replaceSubrange(position * width..<(position + 1) * width, with: table[id * width..<(id + 1) * width])
        }
        return out
    }
}
