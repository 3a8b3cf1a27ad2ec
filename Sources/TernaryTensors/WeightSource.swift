import Foundation

/// Where a model's weights come from. Model code asks by checkpoint name and never sees files or dtypes.
public protocol WeightSource {
    func contains(_ name: String) -> Bool
    /// Logical shape (for a packed ternary weight: [outFeatures, inFeatures], not the payload's shape).
    func shape(_ name: String) throws -> [Int]
    /// The tensor as fp32 (a packed ternary weight comes back dequantized, W_q·γ).
    func tensor(_ name: String) throws -> Tensor
    /// `<prefix>.weight` (+ `<prefix>.bias` if present) as a linear layer: ternary when the weight is packed.
    func linear(_ prefix: String, mode: ActivationMode) throws -> any LinearLayer
}

public enum WeightSourceError: Error, Equatable, CustomStringConvertible, LocalizedError {
    case invalidLinear(file: String, tensor: String, detail: String)
    case invalidTernary(file: String, tensor: String, detail: String)

    public var description: String {
        switch self {
        case let .invalidLinear(file, tensor, detail): return "\(file): tensor '\(tensor)' cannot be a linear layer: \(detail)"
        case let .invalidTernary(file, tensor, detail): return "\(file): packed ternary tensor '\(tensor)': \(detail)"
        }
    }

    public var errorDescription: String? { description }
}

/// A packed ternary weight inside a memory-mapped file (docs/formats.md): the U8 payload, its per-channel
/// fp32 scale and the logical shape recorded in `__metadata__`.
public struct PackedTernaryWeight: @unchecked Sendable {
    public let name: String
    public let format: TernaryFormat
    public let outFeatures: Int
    public let inFeatures: Int
    /// Points into `owner`'s mapping.
    public let packed: UnsafeRawBufferPointer
    public let owner: MappedRegion
    public let scale: [Float]

    public func unpacked() throws -> TernaryWeight {
        let q = try TernaryPacking.unpack(packed, outFeatures: outFeatures, inFeatures: inFeatures, format: format)
        return try TernaryWeight(values: q, scale: scale, outFeatures: outFeatures, inFeatures: inFeatures)
    }
}

extension SafeTensorsFile {
    /// The packed ternary weight `name`, or nil when `name` is an ordinary tensor of this file.
    /// A U8 tensor with a `ternflux.shape.<name>` entry must be complete and consistent, else this throws.
    public func packedTernary(_ name: String) throws -> PackedTernaryWeight? {
        let info = try info(name)
        guard info.dtype == .u8, let shapeText = metadata[TernaryCheckpointKeys.shapeKey(forWeight: name)] else { return nil }
        let file = url.path
        func bad(_ detail: String) -> WeightSourceError { .invalidTernary(file: file, tensor: name, detail: detail) }
        guard let packing = metadata[TernaryCheckpointKeys.packing] else {
            throw bad("__metadata__ has no '\(TernaryCheckpointKeys.packing)'")
        }
        guard let format = TernaryFormat(rawValue: packing) else {
            throw bad("unknown packing '\(packing)' (expected \(TernaryFormat.allCases.map(\.rawValue).joined(separator: " or ")))")
        }
        if let version = metadata[TernaryCheckpointKeys.formatVersion], version != TernaryCheckpointKeys.currentFormatVersion {
            throw bad("format version \(version) is not supported (this build reads \(TernaryCheckpointKeys.currentFormatVersion))")
        }
        let parts = shapeText.split(separator: ",", omittingEmptySubsequences: false)
        guard parts.count == 2, let n = Int(parts[0]), let k = Int(parts[1]), n >= 0, k >= 0 else {
            throw bad("metadata shape '\(shapeText)' is not 'N,K'")
        }
        let rowBytes = format.rowBytes(inFeatures: k)
        guard info.shape == [n, rowBytes] else {
            throw bad("payload shape \(info.shape) does not match \(format.rawValue) packing of [\(n), \(k)] (expected [\(n), \(rowBytes)])")
        }
        let scaleName = TernaryCheckpointKeys.scaleName(forWeight: name)
        guard contains(scaleName) else { throw bad("its scale tensor '\(scaleName)' is missing") }
        let scaleInfo = try self.info(scaleName)
        guard scaleInfo.dtype.isFloatingPoint, scaleInfo.shape == [n] else {
            throw bad("scale '\(scaleName)' is \(scaleInfo.dtype.rawValue) \(scaleInfo.shape), expected F32 [\(n)]")
        }
        return PackedTernaryWeight(name: name, format: format, outFeatures: n, inFeatures: k,
                                   packed: try bytes(name), owner: region, scale: try floats(scaleName))
    }
}

extension SafeTensorsCheckpoint: WeightSource {
    public func packedTernary(_ name: String) throws -> PackedTernaryWeight? {
        try file(containing: name).packedTernary(name)
    }

    public func shape(_ name: String) throws -> [Int] {
        if let p = try packedTernary(name) { return [p.outFeatures, p.inFeatures] }
        return try info(name).shape
    }

    public func tensor(_ name: String) throws -> Tensor {
        if let p = try packedTernary(name) {
            return Tensor(shape: [p.outFeatures, p.inFeatures], storage: try p.unpacked().dequantized())
        }
        return try file(containing: name).tensor(name)
    }

    public func linear(_ prefix: String, mode: ActivationMode) throws -> any LinearLayer {
        let weightName = prefix + ".weight"
        let biasName = prefix + ".bias"
        let weightFile = try file(containing: weightName)
        func bad(_ tensor: String, _ detail: String) -> WeightSourceError {
            .invalidLinear(file: (try? file(containing: tensor).url.path) ?? weightFile.url.path, tensor: tensor, detail: detail)
        }
        let packed = try weightFile.packedTernary(weightName)
        let outFeatures: Int, inFeatures: Int
        if let packed {
            (outFeatures, inFeatures) = (packed.outFeatures, packed.inFeatures)
        } else {
            let info = try weightFile.info(weightName)
            guard info.shape.count == 2 else { throw bad(weightName, "shape \(info.shape) is not [out, in]") }
            guard info.dtype.isFloatingPoint else {
                throw bad(weightName, "dtype \(info.dtype.rawValue) is neither floating point nor packed ternary")
            }
            (outFeatures, inFeatures) = (info.shape[0], info.shape[1])
        }
        var bias: [Float]?
        if contains(biasName) {
            let info = try self.info(biasName)
            guard info.shape == [outFeatures] else { throw bad(biasName, "bias shape \(info.shape) does not match \(outFeatures) outputs") }
            bias = try floats(biasName)
        }
        if let packed {
            return try makeTernaryLinear(packed, bias: bias, mode: mode)
        }
        return DenseLinear(weight: try weightFile.floats(weightName), bias: bias, inFeatures: inFeatures, outFeatures: outFeatures)
    }
}
