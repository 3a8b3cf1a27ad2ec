import Foundation

/// A tensor to write whose bytes are, in order, byte ranges of tensors in memory-mapped safetensors files: a
/// whole tensor under a new name or shape, a block of rows of a fused weight (rows along dim 0 of a row-major
/// tensor are one contiguous range), or two halves in swapped order. Converting a checkpoint from one layout
/// to another is then a list of these, and nothing is ever computed on the values.
public struct SlicedTensor: Sendable {
    /// A byte range of one source tensor's data.
    public struct Piece: @unchecked Sendable {
        public let file: SafeTensorsFile
        public let tensor: String
        /// Offsets within the tensor's data (0 = its first byte).
        public let bytes: Range<Int>

        public init(file: SafeTensorsFile, tensor: String, bytes: Range<Int>) {
            self.file = file
            self.tensor = tensor
            self.bytes = bytes
        }
    }

    public let info: TensorInfo
    public let pieces: [Piece]

    /// Checks that the pieces lie inside their tensors, share the output's dtype and add up to its byte size.
    public init(info: TensorInfo, pieces: [Piece]) throws {
        guard let size = info.byteCount else {
            throw SafeTensorsError.invalidTensor(file: "<plan>", tensor: info.name, detail: "invalid shape \(info.shape)")
        }
        var total = 0
        for p in pieces {
            let source = try p.file.info(p.tensor)
            let available = source.byteCount ?? 0
            guard p.bytes.lowerBound >= 0, p.bytes.upperBound <= available else {
                throw SafeTensorsError.invalidTensor(file: p.file.url.path, tensor: p.tensor,
                                                     detail: "bytes \(p.bytes) lie outside its \(available) bytes")
            }
            guard source.dtype == info.dtype else {
                throw SafeTensorsError.invalidTensor(file: p.file.url.path, tensor: p.tensor,
                                                     detail: "dtype \(source.dtype.rawValue) cannot be copied into \(info.dtype.rawValue) tensor '\(info.name)'")
            }
            total += p.bytes.count
        }
        guard total == size else {
            throw SafeTensorsError.invalidTensor(file: "<plan>", tensor: info.name,
                                                 detail: "pieces hold \(total) bytes but shape \(info.shape) of \(info.dtype.rawValue) needs \(size)")
        }
        self.info = info
        self.pieces = pieces
    }

    /// The whole of `tensor`, possibly renamed and reshaped (same element count).
    public static func whole(_ tensor: String, of file: SafeTensorsFile, as name: String, shape: [Int]? = nil) throws -> SlicedTensor {
        let source = try file.info(tensor)
        return try SlicedTensor(info: TensorInfo(name: name, dtype: source.dtype, shape: shape ?? source.shape),
                                pieces: [Piece(file: file, tensor: tensor, bytes: 0..<(source.byteCount ?? 0))])
    }

    /// Rows `rows` (along dim 0) of `tensor`, as a tensor of the same rank.
    public static func rows(_ rows: Range<Int>, of tensor: String, in file: SafeTensorsFile, as name: String) throws -> SlicedTensor {
        let source = try file.info(tensor)
        guard let first = source.shape.first, rows.lowerBound >= 0, rows.upperBound <= first else {
            throw SafeTensorsError.invalidTensor(file: file.url.path, tensor: tensor,
                                                 detail: "rows \(rows) do not exist in shape \(source.shape)")
        }
        let rowBytes = first == 0 ? 0 : (source.byteCount ?? 0) / first
        let shape = [rows.count] + source.shape.dropFirst()
        return try SlicedTensor(info: TensorInfo(name: name, dtype: source.dtype, shape: shape),
                                pieces: [Piece(file: file, tensor: tensor, bytes: (rows.lowerBound * rowBytes)..<(rows.upperBound * rowBytes))])
    }

    /// `tensor` with the two halves of dim 0 in swapped order ([a; b] → [b; a]).
    public static func halvesSwapped(_ tensor: String, of file: SafeTensorsFile, as name: String) throws -> SlicedTensor {
        let source = try file.info(tensor)
        guard let first = source.shape.first, first % 2 == 0 else {
            throw SafeTensorsError.invalidTensor(file: file.url.path, tensor: tensor,
                                                 detail: "shape \(source.shape) has no even first dimension to split in halves")
        }
        let half = (source.byteCount ?? 0) / 2
        return try SlicedTensor(info: TensorInfo(name: name, dtype: source.dtype, shape: source.shape),
                                pieces: [Piece(file: file, tensor: tensor, bytes: half..<(2 * half)),
                                         Piece(file: file, tensor: tensor, bytes: 0..<half)])
    }
}

/// Writes a safetensors file of `SlicedTensor`s: the header first (every size is known from the plan), then
/// each piece copied straight from its source mapping in chunks, dropping the source pages after each chunk,
/// so resident memory stays one chunk deep whatever the size of the checkpoint.
public enum SlicedTensorWriter {
    /// Bytes copied from a mapping before its pages are dropped.
    public static let chunkBytes = 8 << 20

    public static func write(url: URL, tensors: [SlicedTensor], metadata: [String: String] = [:]) throws {
        let writer = try SafeTensorsWriter(url: url, tensors: tensors.map(\.info), metadata: metadata)
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        for tensor in tensors {
            for piece in tensor.pieces {
                let data = try piece.file.bytes(piece.tensor)
                let start = try piece.file.fileRange(piece.tensor).lowerBound
                var offset = piece.bytes.lowerBound
                while offset < piece.bytes.upperBound {
                    let end = min(offset + chunkBytes, piece.bytes.upperBound)
                    try writer.append(UnsafeRawBufferPointer(rebasing: data[offset..<end]))
                    // Whole pages around the chunk: a page shared with the next chunk is simply read again.
                    let low = (start + offset) / page * page
                    let high = min((start + end + page - 1) / page * page, piece.file.region.count)
                    piece.file.region.dropPages(low..<high)
                    offset = end
                }
            }
        }
        try writer.finish()
    }
}
