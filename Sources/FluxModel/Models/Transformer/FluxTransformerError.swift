/// Errors loading or running the FLUX transformer; each names the file, field or tensor that is wrong.
public enum FluxTransformerError: Error, CustomStringConvertible, Equatable {
    case missingFile(String, String)
    case invalidConfig(String, String)
    case unknownArchitecture(String, String, expected: String)
    case missingTensor(String)
    case shapeMismatch(tensor: String, expected: [Int], found: [Int])
    case unexpectedTensor(String, String)
    case badInput(String, String)
    /// A ternary weight that could not be put on the GPU (out of device memory, say).
    case device(tensor: String, detail: String)

    public var description: String {
        switch self {
        case let .missingFile(path, what):
            return "missing \(what): \(path)"
        case let .invalidConfig(source, message):
            return "invalid transformer config \(source): \(message)"
        case let .unknownArchitecture(source, found, expected):
            return "\(source): unknown architecture '\(found)' (expected \(expected))"
        case let .missingTensor(name):
            return "transformer checkpoint has no tensor '\(name)'"
        case let .shapeMismatch(tensor, expected, found):
            return "tensor '\(tensor)' has shape \(found), but the config needs \(expected)"
        case let .unexpectedTensor(name, why):
            return "transformer checkpoint has tensor '\(name)' that the config does not expect: \(why)"
        case let .badInput(name, message):
            return "transformer input '\(name)': \(message)"
        case let .device(tensor, detail):
            return "tensor '\(tensor)' cannot go to the GPU: \(detail)"
        }
    }
}
