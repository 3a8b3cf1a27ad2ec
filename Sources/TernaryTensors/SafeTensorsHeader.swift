import StrictJSON

/// The validated header of a safetensors file: metadata plus, per tensor, dtype, shape and byte range.
///
/// Layout: 8-byte little-endian header length N, N bytes of UTF-8 JSON (possibly padded with spaces), then
/// the data region; `data_offsets` are [begin, end) within the data region.
struct SafeTensorsHeader {
    /// Refuse headers larger than this: a corrupt length field must not make us parse gigabytes.
    static let maxHeaderBytes = 100_000_000

    struct Entry {
        var info: TensorInfo
        var begin: Int   // offset within the data region
        var end: Int
    }

    var metadata: [String: String]
    /// Tensors in header order.
    var entries: [Entry]
    /// Offset of the data region from the start of the file (8 + N).
    var dataStart: Int

    /// Parses and validates the header of a whole file image; never traps on any input.
    static func parse(file: String, bytes: UnsafeRawBufferPointer) throws -> SafeTensorsHeader {
        guard bytes.count >= 8 else {
            throw SafeTensorsError.truncated(file: file, detail: "\(bytes.count) bytes, shorter than the 8-byte header length field")
        }
        var length: UInt64 = 0
        for i in 0..<8 { length |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        if length > UInt64(maxHeaderBytes) {
            throw SafeTensorsError.headerTooLarge(file: file, bytes: length, limit: maxHeaderBytes)
        }
        let headerLength = Int(length)
        guard bytes.count - 8 >= headerLength else {
            throw SafeTensorsError.truncated(
                file: file, detail: "header declares \(headerLength) bytes but only \(bytes.count - 8) follow the length field")
        }
        let dataStart = 8 + headerLength
        let dataSize = bytes.count - dataStart
        let json: StrictJSONValue
        do {
            json = try StrictJSONParser.parse(UnsafeRawBufferPointer(rebasing: bytes[8..<dataStart]))
        } catch let e as StrictJSONError {
            if case let .duplicateKey(key) = e.kind, e.depth == 1 {
                throw SafeTensorsError.duplicateTensor(file: file, tensor: key)
            }
            throw SafeTensorsError.invalidHeader(file: file, detail: "not valid JSON: \(e.message) at header byte \(e.offset)" + (e.hint.map { " (\($0))" } ?? ""))
        }
        guard case let .object(members) = json else {
            throw SafeTensorsError.invalidHeader(file: file, detail: "expected a JSON object, found a \(json.kindName)")
        }

        var metadata: [String: String] = [:]
        var entries: [Entry] = []
        entries.reserveCapacity(members.count)
        for (name, value) in members {
            if name == "__metadata__" {
                guard case let .object(pairs) = value else {
                    throw SafeTensorsError.invalidHeader(file: file, detail: "__metadata__ must be an object of strings, found a \(value.kindName)")
                }
                for (k, v) in pairs {
                    guard case let .string(s) = v else {
                        throw SafeTensorsError.invalidHeader(file: file, detail: "__metadata__ value for '\(k)' must be a string, found a \(v.kindName)")
                    }
                    metadata[k] = s
                }
                continue
            }
            entries.append(try parseEntry(file: file, name: name, value: value, dataSize: dataSize))
        }

        // Non-empty tensors must not share bytes.
        let order = entries.indices.filter { entries[$0].end > entries[$0].begin }.sorted {
            (entries[$0].begin, entries[$0].end) < (entries[$1].begin, entries[$1].end)
        }
        for (a, b) in zip(order, order.dropFirst()) where entries[b].begin < entries[a].end {
            throw SafeTensorsError.overlappingTensors(file: file, first: entries[a].info.name, second: entries[b].info.name)
        }
        return SafeTensorsHeader(metadata: metadata, entries: entries, dataStart: dataStart)
    }

    private static func parseEntry(file: String, name: String, value: StrictJSONValue, dataSize: Int) throws -> Entry {
        func bad(_ detail: String) -> SafeTensorsError { .invalidTensor(file: file, tensor: name, detail: detail) }
        guard case let .object(fields) = value else { throw bad("entry must be an object, found a \(value.kindName)") }
        var dtypeText: String?
        var shapeValue: StrictJSONValue?
        var offsetsValue: StrictJSONValue?
        for (k, v) in fields {
            switch k {
            case "dtype":
                guard case let .string(s) = v else { throw bad("dtype must be a string, found a \(v.kindName)") }
                dtypeText = s
            case "shape": shapeValue = v
            case "data_offsets": offsetsValue = v
            default: break // extra fields are tolerated
            }
        }
        guard let dtypeText else { throw bad("missing 'dtype'") }
        guard let dtype = DType(rawValue: dtypeText) else {
            throw SafeTensorsError.unsupportedDType(file: file, tensor: name, dtype: dtypeText)
        }
        guard case let .array(dims)? = shapeValue else { throw bad("missing or non-array 'shape'") }
        var shape: [Int] = []
        shape.reserveCapacity(dims.count)
        for d in dims {
            guard let n = d.nonNegativeInt else { throw bad("shape entries must be non-negative integers, found \(d)") }
            shape.append(n)
        }
        guard case let .array(offsets)? = offsetsValue, offsets.count == 2,
              let begin = offsets[0].nonNegativeInt, let end = offsets[1].nonNegativeInt else {
            throw bad("'data_offsets' must be two non-negative integers [begin, end]")
        }
        guard begin <= end else { throw bad("data_offsets [\(begin), \(end)] end before they begin") }
        guard end <= dataSize else {
            throw SafeTensorsError.truncated(
                file: file, detail: "tensor '\(name)' data_offsets [\(begin), \(end)] extend past the \(dataSize)-byte data region")
        }
        let info = TensorInfo(name: name, dtype: dtype, shape: shape)
        guard let bytes = info.byteCount else { throw bad("shape \(shape) is too large") }
        guard bytes == end - begin else {
            throw bad("data_offsets [\(begin), \(end)] hold \(end - begin) bytes but shape \(shape) of \(dtype.rawValue) needs \(bytes)")
        }
        return Entry(info: info, begin: begin, end: end)
    }
}
