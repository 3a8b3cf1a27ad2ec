import CTernaryKernels
import Foundation

/// One safetensors file, memory-mapped; tensor bytes are read in place (zero copy).
/// The header is fully validated on open (docs/formats.md lists the checks).
public final class SafeTensorsFile: @unchecked Sendable {
    public let url: URL
    /// `__metadata__` of the file (empty when absent).
    public let metadata: [String: String]
    /// Tensor names in header order.
    public let tensorNames: [String]
    /// The mapping the tensor bytes point into; keep it alive as long as any `bytes(_:)` buffer is used.
    public let region: MappedRegion

    private let entries: [String: SafeTensorsHeader.Entry]
    private let dataStart: Int

    /// Maps and validates the file at `url`.
    public convenience init(url: URL) throws {
        let region = try MappedRegion(mapping: url.path)
        try self.init(url: url, region: region)
    }

    /// Parses an in-memory file image; `url` only names it in errors.
    public convenience init(bytes: UnsafeRawBufferPointer, url: URL) throws {
        try self.init(url: url, region: MappedRegion(copying: bytes))
    }

    private init(url: URL, region: MappedRegion) throws {
        let header = try SafeTensorsHeader.parse(file: url.path, bytes: region.bytes)
        self.url = url
        self.region = region
        self.metadata = header.metadata
        self.tensorNames = header.entries.map(\.info.name)
        self.dataStart = header.dataStart
        var map: [String: SafeTensorsHeader.Entry] = [:]
        map.reserveCapacity(header.entries.count)
        for e in header.entries { map[e.info.name] = e }
        self.entries = map
    }

    public func contains(_ name: String) -> Bool { entries[name] != nil }

    private func entry(_ name: String) throws -> SafeTensorsHeader.Entry {
        guard let e = entries[name] else { throw SafeTensorsError.missingTensor(file: url.path, tensor: name) }
        return e
    }

    public func info(_ name: String) throws -> TensorInfo { try entry(name).info }

    /// The tensor's raw little-endian bytes inside the mapping (valid while this file or `region` lives).
    public func bytes(_ name: String) throws -> UnsafeRawBufferPointer {
        let e = try entry(name)
        return UnsafeRawBufferPointer(rebasing: region.bytes[(dataStart + e.begin)..<(dataStart + e.end)])
    }

    /// Byte range of the tensor within the whole file.
    public func fileRange(_ name: String) throws -> Range<Int> {
        let e = try entry(name)
        return (dataStart + e.begin)..<(dataStart + e.end)
    }

    /// The tensor as fp32 (F32 copied, F16/BF16 converted exactly).
    public func floats(_ name: String) throws -> [Float] {
        let e = try entry(name)
        let raw = try bytes(name)
        let n = raw.count / e.info.dtype.byteSize
        switch e.info.dtype {
        case .f32:
            return [Float](unsafeUninitializedCapacity: n) { buf, done in
                if n > 0 { UnsafeMutableRawPointer(buf.baseAddress!).copyMemory(from: raw.baseAddress!, byteCount: n * 4) }
                done = n
            }
        case .f16, .bf16:
            return [Float](unsafeUninitializedCapacity: n) { buf, done in
                if n > 0 {
                    if e.info.dtype == .f16 {
                        tf_f16_to_f32(raw.baseAddress!, buf.baseAddress!, n)
                    } else {
                        tf_bf16_to_f32(raw.baseAddress!, buf.baseAddress!, n)
                    }
                }
                done = n
            }
        default:
            throw SafeTensorsError.wrongDType(file: url.path, tensor: name, dtype: e.info.dtype, expected: "F32, F16 or BF16")
        }
    }

    /// The tensor as fp32 with its shape.
    public func tensor(_ name: String) throws -> Tensor {
        let shape = try info(name).shape
        return Tensor(shape: shape, storage: try floats(name))
    }

    /// A copy of the tensor's raw bytes.
    public func data(_ name: String) throws -> [UInt8] { Array(try bytes(name)) }

    /// Integer tensors (I8, U8, I32, I64) widened to Int.
    public func integers(_ name: String) throws -> [Int] {
        let e = try entry(name)
        let raw = try bytes(name)
        switch e.info.dtype {
        case .i8: return raw.map { Int(Int8(bitPattern: $0)) }
        case .u8: return raw.map { Int($0) }
        case .i32: return (0..<(raw.count / 4)).map { Int(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self))) }
        case .i64: return (0..<(raw.count / 8)).map { Int(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self))) }
        default:
            throw SafeTensorsError.wrongDType(file: url.path, tensor: name, dtype: e.info.dtype, expected: "I8, U8, I32 or I64")
        }
    }
}
