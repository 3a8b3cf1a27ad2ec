import Foundation
import FluxModel
import CTernaryKernels
import TernaryTensors

/// A `WeightSource` that makes a whole FLUX transformer of random weights in memory: block linears are random
/// ternary codes written straight into packed storage (fp32 block weights never exist), everything else small
/// fp32 tensors. Scales keep activations of order one through all blocks, so timings see ordinary numbers.
/// Used by `ternflux bench flux-step` to measure full-size FLUX steps without a 24 GB checkpoint.
public final class RandomTernaryWeights: WeightSource, @unchecked Sendable {
    public let config: FluxTransformerConfig
    public let format: TernaryFormat
    public let seed: UInt64
    private var linearShapes: [String: (inFeatures: Int, outFeatures: Int, inBlock: Bool)] = [:]
    private var vectorShapes: [String: Int] = [:]
    /// Bytes of packed ternary weights handed out so far.
    public private(set) var packedBytes = 0

    public init(config: FluxTransformerConfig, format: TernaryFormat = .i2, seed: UInt64 = 0) {
        self.config = config
        self.format = format
        self.seed = seed
        let layout = FluxParameterLayout(config: config)
        for l in layout.linears { linearShapes[l.prefix] = (l.inFeatures, l.outFeatures, l.inBlock) }
        for v in layout.vectors { vectorShapes[v.name] = v.count }
    }

    private func split(_ name: String) -> (prefix: String, suffix: String)? {
        guard let dot = name.lastIndex(of: ".") else { return nil }
        return (String(name[..<dot]), String(name[name.index(after: dot)...]))
    }

    public func contains(_ name: String) -> Bool {
        if vectorShapes[name] != nil { return true }
        guard let (prefix, suffix) = split(name), linearShapes[prefix] != nil else { return false }
        return suffix == "weight" || suffix == "bias"
    }

    public func shape(_ name: String) throws -> [Int] {
        if let n = vectorShapes[name] { return [n] }
        if let (prefix, suffix) = split(name), let l = linearShapes[prefix] {
            if suffix == "weight" { return [l.outFeatures, l.inFeatures] }
            if suffix == "bias" { return [l.outFeatures] }
        }
        throw FluxTransformerError.missingTensor(name)
    }

    public func tensor(_ name: String) throws -> Tensor {
        let shape = try self.shape(name)
        var rng = SplitMix64(seed: seed ^ Self.hash(name))
        let count = shape.reduce(1, *)
        if vectorShapes[name] != nil {
            // RMSNorm weights: around one.
            return Tensor(shape: shape, storage: (0..<count).map { _ in 1 + 0.1 * rng.signed() })
        }
        let fanIn = shape.count == 2 ? shape[1] : 1
        let amplitude = shape.count == 2 ? Float(1.0 / Double(fanIn).squareRoot()) * 1.7 : 0.02
        return Tensor(shape: shape, storage: (0..<count).map { _ in amplitude * rng.signed() })
    }

    public func linear(_ prefix: String, mode: ActivationMode) throws -> any LinearLayer {
        guard let l = linearShapes[prefix] else { throw FluxTransformerError.missingTensor(prefix + ".weight") }
        let bias = try tensor(prefix + ".bias").storage
        guard l.inBlock else {
            let w = try tensor(prefix + ".weight")
            return DenseLinear(weight: w.storage, bias: bias, inFeatures: l.inFeatures, outFeatures: l.outFeatures)
        }
        let (storage, scale) = try packedWeight(prefix, inFeatures: l.inFeatures, outFeatures: l.outFeatures)
        packedBytes += storage.count
        return try TernaryLinear(packed: storage.contents, owner: storage, scale: scale, bias: bias, format: format,
                                 inFeatures: l.inFeatures, outFeatures: l.outFeatures, mode: mode)
    }

    /// The packed codes and per-row scales of block linear `prefix` (the same bytes every time for one seed,
    /// whether handed to a layer or written to a checkpoint file).
    func packedWeight(_ prefix: String, inFeatures: Int, outFeatures: Int) throws
        -> (storage: PackedTernaryStorage, scale: [Float]) {
        var rng = SplitMix64(seed: seed ^ Self.hash(prefix + ".weight"))
        let rowBytes = format.rowBytes(inFeatures: inFeatures)
        let storage = PackedTernaryStorage(byteCount: outFeatures * rowBytes)
        Self.fillRandomCodes(storage.bytes, count: storage.count, format: format, rng: &rng)
        if inFeatures % format.valuesPerPaddingUnit != 0 {
            // Padding positions must hold zero weights; re-pack the tail of each row from explicit values.
            try Self.zeroPadding(storage, rows: outFeatures, inFeatures: inFeatures, format: format)
        }
        // About half the codes are zero, so a row of ±1s has ~K/2 non-zeros: scale 1/√(K/2) keeps unit variance.
        let base = Float(1.0 / (Double(inFeatures) / 2).squareRoot())
        let scale = (0..<outFeatures).map { _ in base * (0.8 + 0.4 * rng.unit()) }
        return (storage, scale)
    }

    /// Random valid packed bytes: i2 codes 0/1/2 per 2-bit field (code 3 becomes 1, a zero weight), t3 bytes 0…242.
    static func fillRandomCodes(_ bytes: UnsafeMutableRawBufferPointer, count: Int, format: TernaryFormat,
                                rng: inout SplitMix64) {
        var table = [UInt8](repeating: 0, count: 256)
        for b in 0..<256 {
            switch format {
            case .i2:
                var v = 0
                for s in 0..<4 {
                    var code = (b >> (2 * s)) & 3
                    if code == 3 { code = 1 }
                    v |= code << (2 * s)
                }
                table[b] = UInt8(v)
            case .t3:
                table[b] = UInt8(b < 243 ? b : b - 243)
            }
        }
        let p = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        table.withUnsafeBufferPointer { t in
            var i = 0
            while i + 8 <= count {
                var r = rng.next()
                for j in 0..<8 { p[i + j] = t[Int(r & 0xFF)]; r >>= 8 }
                i += 8
            }
            var r = rng.next()
            while i < count { p[i] = t[Int(r & 0xFF)]; r >>= 8; i += 1 }
        }
    }

    static func zeroPadding(_ storage: PackedTernaryStorage, rows: Int, inFeatures: Int, format: TernaryFormat) throws {
        let rowBytes = format.rowBytes(inFeatures: inFeatures)
        var values = [Int8](repeating: 0, count: rows * inFeatures)
        let p = storage.bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        guard tf_unpack(format.cFormat, p, Int64(rows), Int64(inFeatures), &values) == 0,
              tf_pack(format.cFormat, values, Int64(rows), Int64(inFeatures), p) == 0 else {
            throw TernaryLinearError("could not re-pack random \(format.rawValue) rows of \(inFeatures) weights (\(rowBytes) bytes)")
        }
    }

    static func hash(_ s: String) -> UInt64 {
        var h: UInt64 = 0xcbf29ce484222325
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100000001b3 }
        return h
    }
}
extension TernaryFormat {
    /// Input features per packing unit; rows whose length is not a multiple carry zero padding.
    var valuesPerPaddingUnit: Int { self == .i2 ? 128 : 5 }
}
