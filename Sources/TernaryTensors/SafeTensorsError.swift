import Foundation

/// Everything that can be wrong with a safetensors file, checkpoint folder or index; each case names the file
/// and, where there is one, the tensor.
public enum SafeTensorsError: Error, Equatable, CustomStringConvertible, LocalizedError {
    case cannotOpen(file: String, reason: String)
    case truncated(file: String, detail: String)
    case headerTooLarge(file: String, bytes: UInt64, limit: Int)
    case invalidHeader(file: String, detail: String)
    case duplicateTensor(file: String, tensor: String)
    case unsupportedDType(file: String, tensor: String, dtype: String)
    case invalidTensor(file: String, tensor: String, detail: String)
    case overlappingTensors(file: String, first: String, second: String)
    case missingTensor(file: String, tensor: String)
    case wrongDType(file: String, tensor: String, dtype: DType, expected: String)
    case invalidIndex(file: String, detail: String)
    case writeFailed(file: String, detail: String)

    public var description: String {
        switch self {
        case let .cannotOpen(file, reason):
            return "\(file): cannot open safetensors file: \(reason)"
        case let .truncated(file, detail):
            return "\(file): truncated safetensors file: \(detail)"
        case let .headerTooLarge(file, bytes, limit):
            return "\(file): safetensors header length \(bytes) bytes exceeds the \(limit)-byte limit (corrupt or not a safetensors file)"
        case let .invalidHeader(file, detail):
            return "\(file): invalid safetensors header: \(detail)"
        case let .duplicateTensor(file, tensor):
            return "\(file): tensor '\(tensor)' appears more than once"
        case let .unsupportedDType(file, tensor, dtype):
            return "\(file): tensor '\(tensor)' has dtype '\(dtype)'; TernFlux reads "
                + DType.allCases.map(\.rawValue).joined(separator: ", ")
        case let .invalidTensor(file, tensor, detail):
            return "\(file): tensor '\(tensor)': \(detail)"
        case let .overlappingTensors(file, first, second):
            return "\(file): data of tensors '\(first)' and '\(second)' overlap"
        case let .missingTensor(file, tensor):
            return "\(file): no tensor named '\(tensor)'"
        case let .wrongDType(file, tensor, dtype, expected):
            return "\(file): tensor '\(tensor)' has dtype \(dtype.rawValue), expected \(expected)"
        case let .invalidIndex(file, detail):
            return "\(file): invalid safetensors index: \(detail)"
        case let .writeFailed(file, detail):
            return "\(file): cannot write safetensors file: \(detail)"
        }
    }

    public var errorDescription: String? { description }
}
