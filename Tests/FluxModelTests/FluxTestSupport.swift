import Foundation
import TernaryTensors
@testable import FluxModel

/// Paths of the committed fixtures (Tests/Fixtures, see its README.md).
enum FluxFixtures {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")
    static func url(_ relative: String) -> URL { root.appendingPathComponent(relative) }
}

/// The tensors (F32, or I64/U8 widened to Float) of a small safetensors file, read whole (tests only; the product reads through the
/// memory-mapped `SafeTensorsFile`).
struct FixtureTensors {
    let tensors: [String: Tensor]
    let metadata: [String: String]

    init(url: URL) throws {
        let data = try Data(contentsOf: url)
        let headerLength = data.prefix(8).withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + headerLength))) as! [String: Any]
        var tensors: [String: Tensor] = [:]
        var metadata: [String: String] = [:]
        let base = 8 + headerLength
        for (name, value) in header {
            if name == "__metadata__" { metadata = value as? [String: String] ?? [:]; continue }
            let entry = value as! [String: Any]
            let dtype = entry["dtype"] as! String
            let shape = entry["shape"] as! [Int]
            let offsets = entry["data_offsets"] as! [Int]
            let bytes = data.subdata(in: (base + offsets[0])..<(base + offsets[1]))
            let floats: [Float] = bytes.withUnsafeBytes { raw in
                switch dtype {
                case "F32": return (0..<(raw.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
                case "I64": return (0..<(raw.count / 8)).map { Float(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self))) }
                case "U8": return raw.map { Float($0) }
                default: preconditionFailure("\(url.lastPathComponent): \(name) has unsupported dtype \(dtype)")
                }
            }
            tensors[name] = Tensor(shape: shape, storage: floats)
        }
        self.tensors = tensors
        self.metadata = metadata
    }

    subscript(_ name: String) -> Tensor {
        guard let t = tensors[name] else { fatalError("fixture has no tensor \(name)") }
        return t
    }
}

/// A WeightSource over in-memory fp32 tensors (DenseLinear for every linear).
final class DictionaryWeights: WeightSource {
    var tensors: [String: Tensor]
    init(_ tensors: [String: Tensor]) { self.tensors = tensors }

    func contains(_ name: String) -> Bool { tensors[name] != nil }
    func shape(_ name: String) throws -> [Int] {
        guard let t = tensors[name] else { throw FluxTransformerError.missingTensor(name) }
        return t.shape
    }
    func tensor(_ name: String) throws -> Tensor {
        guard let t = tensors[name] else { throw FluxTransformerError.missingTensor(name) }
        return t
    }
    func linear(_ prefix: String, mode: ActivationMode) throws -> any LinearLayer {
        let w = try tensor(prefix + ".weight")
        return DenseLinear(weight: w.storage, bias: tensors[prefix + ".bias"]?.storage,
                           inFeatures: w.shape[1], outFeatures: w.shape[0])
    }
}

func maxAbsDifference(_ a: Tensor, _ b: Tensor) -> Float {
    precondition(a.shape == b.shape, "shapes \(a.shape) and \(b.shape) differ")
    var m: Float = 0
    for i in a.storage.indices { m = max(m, abs(a.storage[i] - b.storage[i])) }
    return m
}
