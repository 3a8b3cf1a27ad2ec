import CTernaryKernels
import Foundation
import StrictJSON

/// Streams a safetensors file to disk tensor by tensor, so a file never has to sit in memory whole.
///
/// All tensor infos are declared up front (the header comes first and holds every offset); data is then
/// written in declaration order, each tensor in one or more `append` calls. The header is compact JSON,
/// `__metadata__` first, padded with spaces so the data region starts 8-byte aligned.
public final class SafeTensorsWriter {
    public let url: URL
    public let tensors: [TensorInfo]
    private let sizes: [Int]
    private let handle: FileHandle
    private var current = 0
    private var writtenInCurrent = 0
    private var finished = false
    private var failed = false

    public init(url: URL, tensors: [TensorInfo], metadata: [String: String] = [:]) throws {
        let header = try Self.header(file: url.path, tensors: tensors, metadata: metadata)
        self.url = url
        self.tensors = tensors
        self.sizes = tensors.map { $0.byteCount! } // checked by header()
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw SafeTensorsError.writeFailed(file: url.path, detail: "cannot create the file")
        }
        do {
            handle = try FileHandle(forWritingTo: url)
        } catch {
            throw SafeTensorsError.writeFailed(file: url.path, detail: "\(error)")
        }
        try header.withUnsafeBytes { try put($0) }
        skipEmptyTensors()
    }

    deinit { try? handle.close() }

    /// The header bytes (length field + padded JSON) for these tensors, laid out contiguously in order.
    public static func header(file: String = "<header>", tensors: [TensorInfo], metadata: [String: String]) throws -> [UInt8] {
        var json = "{"
        var first = true
        if !metadata.isEmpty {
            json += "\"__metadata__\":{"
            json += metadata.keys.sorted().map { "\(jsonQuoted($0)):\(jsonQuoted(metadata[$0]!))" }.joined(separator: ",")
            json += "}"
            first = false
        }
        var seen = Set<String>()
        var offset = 0
        for t in tensors {
            guard t.name != "__metadata__" else {
                throw SafeTensorsError.invalidTensor(file: file, tensor: t.name, detail: "the name __metadata__ is reserved")
            }
            guard seen.insert(t.name).inserted else { throw SafeTensorsError.duplicateTensor(file: file, tensor: t.name) }
            guard t.shape.allSatisfy({ $0 >= 0 }), let size = t.byteCount else {
                throw SafeTensorsError.invalidTensor(file: file, tensor: t.name, detail: "invalid shape \(t.shape)")
            }
            if !first { json += "," }
            first = false
            let shape = t.shape.map(String.init).joined(separator: ",")
            json += "\(jsonQuoted(t.name)):{\"dtype\":\"\(t.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + size)]}"
            offset += size
        }
        json += "}"
        var body = Array(json.utf8)
        while body.count % 8 != 0 { body.append(0x20) }
        var out = [UInt8]()
        out.reserveCapacity(8 + body.count)
        var n = UInt64(body.count)
        for _ in 0..<8 { out.append(UInt8(n & 0xff)); n >>= 8 }
        out += body
        return out
    }

    private func put(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0 else { return }
        do {
            let data = Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: bytes.baseAddress!), count: bytes.count, deallocator: .none)
            try handle.write(contentsOf: data)
        } catch {
            failed = true
            throw SafeTensorsError.writeFailed(file: url.path, detail: "\(error)")
        }
    }

    private func skipEmptyTensors() {
        while current < tensors.count && sizes[current] == 0 { current += 1 }
    }

    /// Name of the tensor the next `append` writes to, or nil when all data is written.
    public var nextTensor: String? { current < tensors.count ? tensors[current].name : nil }

    /// Appends bytes to the current tensor (a tensor may arrive in several chunks).
    public func append(_ bytes: UnsafeRawBufferPointer) throws {
        guard !failed else { throw SafeTensorsError.writeFailed(file: url.path, detail: "an earlier write failed") }
        var rest = bytes
        while rest.count > 0 {
            guard current < tensors.count else {
                throw SafeTensorsError.writeFailed(file: url.path, detail: "\(rest.count) bytes more than the declared tensors hold")
            }
            let take = min(rest.count, sizes[current] - writtenInCurrent)
            try put(UnsafeRawBufferPointer(rebasing: rest[0..<take]))
            rest = UnsafeRawBufferPointer(rebasing: rest[take...])
            writtenInCurrent += take
            if writtenInCurrent == sizes[current] {
                current += 1
                writtenInCurrent = 0
                skipEmptyTensors()
            }
        }
    }

    /// Writes the whole data of the tensor `name`, which must be the next one declared.
    public func write(_ name: String, bytes: UnsafeRawBufferPointer) throws {
        // Zero-byte tensors hold no data and are passed over automatically; writing them is a no-op.
        if bytes.count == 0, let i = tensors.firstIndex(where: { $0.name == name }), sizes[i] == 0 { return }
        guard current < tensors.count, tensors[current].name == name, writtenInCurrent == 0 else {
            throw SafeTensorsError.writeFailed(file: url.path, detail: "tensor '\(name)' written out of order (next is '\(nextTensor ?? "none")')")
        }
        guard bytes.count == sizes[current] else {
            throw SafeTensorsError.invalidTensor(file: url.path, tensor: name,
                                                 detail: "got \(bytes.count) bytes, shape \(tensors[current].shape) of \(tensors[current].dtype.rawValue) needs \(sizes[current])")
        }
        try append(bytes)
    }

    public func write(_ name: String, floats: [Float]) throws {
        try floats.withUnsafeBytes { try write(name, bytes: $0) }
    }

    public func write(_ name: String, data: [UInt8]) throws {
        try data.withUnsafeBytes { try write(name, bytes: $0) }
    }

    /// Checks that every declared byte was written, flushes and closes the file.
    public func finish() throws {
        guard !finished else { return }
        guard current == tensors.count else {
            throw SafeTensorsError.writeFailed(file: url.path, detail: "tensor '\(tensors[current].name)' and later ones were not written")
        }
        do {
            try handle.synchronize()
            try handle.close()
        } catch {
            throw SafeTensorsError.writeFailed(file: url.path, detail: "\(error)")
        }
        finished = true
    }

    /// Writes a small file in one call.
    public static func write(url: URL, tensors: [(info: TensorInfo, data: [UInt8])], metadata: [String: String] = [:]) throws {
        let w = try SafeTensorsWriter(url: url, tensors: tensors.map(\.info), metadata: metadata)
        for t in tensors { try w.write(t.info.name, data: t.data) }
        try w.finish()
    }
}

extension TensorInfo {
    /// Little-endian bytes of fp32 values stored as `dtype` (F32, F16 or BF16; rounding to nearest even).
    public static func encode(_ values: [Float], as dtype: DType) -> [UInt8] {
        switch dtype {
        case .f32: return values.withUnsafeBytes { Array($0) }
        case .f16, .bf16:
            var out = [UInt8](repeating: 0, count: values.count * 2)
            values.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBytes { dst in
                    guard let s = src.baseAddress, let d = dst.baseAddress else { return }
                    if dtype == .f16 { tf_f32_to_f16(s, d, values.count) } else { tf_f32_to_bf16(s, d, values.count) }
                }
            }
            return out
        default:
            preconditionFailure("encode(_:as:) takes a floating-point dtype, got \(dtype.rawValue)")
        }
    }
}
