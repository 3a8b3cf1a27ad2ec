import Foundation
import FluxModel
import TernaryTensors

/// Writes the random transformer of a `RandomTernaryWeights` as a `transformer/` folder (config.json +
/// one safetensors file) in the ternary checkpoint format `ternflux quantize` produces: block linears as packed
/// `U8` payloads with F32 `_scale` tensors and their shapes in `__metadata__`, everything else in `denseDType`
/// (bf16, as a converted FLUX.1 checkpoint keeps it). Loading the folder gives the same block codes and scales
/// as the in-memory source. Used to measure memory-mapped replicas of a full-size model without its 24 GB
/// bf16 source. Tensors are made and written one at a time, so memory stays at one tensor.
extension RandomTernaryWeights {
    public struct CheckpointReport: Sendable {
        public let weightsFile: URL
        public let fileBytes: Int
        public let packedBytes: Int
        public let denseBytes: Int
    }

    public static let checkpointFileName = "diffusion_pytorch_model.safetensors"

    @discardableResult
    public func writeCheckpoint(to directory: URL, denseDType: DType = .bf16) throws -> CheckpointReport {
        guard denseDType == .bf16 || denseDType == .f16 || denseDType == .f32 else {
            throw FluxTransformerError.invalidConfig("random checkpoint", "dense dtype must be F32, F16 or BF16, got \(denseDType.rawValue)")
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(config).write(to: directory.appendingPathComponent("config.json"))

        let layout = FluxParameterLayout(config: config)
        var infos: [TensorInfo] = []
        var metadata: [String: String] = [
            TernaryCheckpointKeys.packing: format.rawValue,
            TernaryCheckpointKeys.formatVersion: TernaryCheckpointKeys.currentFormatVersion,
        ]
        for l in layout.linears {
            if l.inBlock {
                infos.append(TensorInfo(name: l.weightName, dtype: .u8,
                                        shape: [l.outFeatures, format.rowBytes(inFeatures: l.inFeatures)]))
                infos.append(TensorInfo(name: TernaryCheckpointKeys.scaleName(forWeight: l.weightName), dtype: .f32,
                                        shape: [l.outFeatures]))
                metadata[TernaryCheckpointKeys.shapeKey(forWeight: l.weightName)] = "\(l.outFeatures),\(l.inFeatures)"
            } else {
                infos.append(TensorInfo(name: l.weightName, dtype: denseDType, shape: [l.outFeatures, l.inFeatures]))
            }
            infos.append(TensorInfo(name: l.biasName, dtype: denseDType, shape: [l.outFeatures]))
        }
        for v in layout.vectors { infos.append(TensorInfo(name: v.name, dtype: denseDType, shape: [v.count])) }

        let url = directory.appendingPathComponent(Self.checkpointFileName)
        let writer = try SafeTensorsWriter(url: url, tensors: infos, metadata: metadata)
        var packed = 0, dense = 0
        func writeDense(_ name: String) throws {
            let bytes = TensorInfo.encode(try tensor(name).storage, as: denseDType)
            dense += bytes.count
            try writer.write(name, data: bytes)
        }
        for l in layout.linears {
            if l.inBlock {
                let (storage, scale) = try packedWeight(l.prefix, inFeatures: l.inFeatures, outFeatures: l.outFeatures)
                try writer.write(l.weightName, bytes: storage.contents)
                try writer.write(TernaryCheckpointKeys.scaleName(forWeight: l.weightName), floats: scale)
                packed += storage.count
            } else {
                try writeDense(l.weightName)
            }
            try writeDense(l.biasName)
        }
        for v in layout.vectors { try writeDense(v.name) }
        try writer.finish()
        let size = (try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? NSNumber)?.intValue ?? 0
        return CheckpointReport(weightsFile: url, fileBytes: size, packedBytes: packed, denseBytes: dense)
    }
}
