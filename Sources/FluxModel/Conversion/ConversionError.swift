import Foundation

/// Why `ternflux convert` (or `quantize` on a single file) refused a source or a destination. Every case names
/// the file and, where there is one, the tensor or setting at fault.
public enum ConversionError: Error, Equatable, CustomStringConvertible, LocalizedError {
    /// The file could not be read as safetensors (truncated, corrupt header, unsupported dtype, …).
    case unreadable(path: String, detail: String)
    /// Keys that belong to no layout this converter knows (a few of them are named).
    case unknownLayout(path: String, keys: [String], total: Int)
    /// Keys of the diffusers layout next to keys of a single-file layout.
    case mixedLayout(path: String, diffusers: [String], singleFile: [String])
    /// A file that is already in the diffusers layout.
    case alreadyDiffusers(path: String, keys: [String])
    /// A tensor the layout needs is not in the file.
    case missingTensor(path: String, component: String, tensor: String)
    /// A tensor whose shape contradicts the configuration inferred from the others.
    case shapeMismatch(path: String, tensor: String, expected: [Int], actual: [Int], reason: String)
    /// Tensors inside a recognised component that the mapping does not know.
    case unexpectedTensors(path: String, component: String, tensors: [String], total: Int)
    /// A configuration value the weights do not determine and no option gave.
    case cannotInfer(path: String, component: String, detail: String)
    /// The same component in two sources.
    case duplicateComponent(component: String, first: String, second: String)
    case noComponents(paths: [String])
    case invalidOption(option: String, detail: String)
    case destinationExists(path: String)
    case destination(path: String, detail: String)

    public var description: String {
        switch self {
        case let .unreadable(path, detail):
            return "\(path): cannot read the checkpoint: \(detail)"
        case let .unknownLayout(path, keys, total):
            return "\(path): not a FLUX.1 checkpoint in a layout this converter knows (BFL flux1-dev/schnell, ComfyUI/Forge "
                + "bundle, BFL ae): \(total) tensor name(s) match none of them, e.g. \(Self.list(keys))"
        case let .mixedLayout(path, diffusers, singleFile):
            return "\(path): mixes the diffusers layout (e.g. \(Self.list(diffusers))) with a single-file layout "
                + "(e.g. \(Self.list(singleFile))); refusing to guess which tensors to use"
        case let .alreadyDiffusers(path, keys):
            return "\(path): already in the diffusers layout (e.g. \(Self.list(keys))); put it in a transformer/ or vae/ "
                + "folder with its config.json and use the folder"
        case let .missingTensor(path, component, tensor):
            return "\(path): the \(component) has no tensor '\(tensor)'"
        case let .shapeMismatch(path, tensor, expected, actual, reason):
            return "\(path): tensor '\(tensor)' has shape \(actual), expected \(expected) (\(reason))"
        case let .unexpectedTensors(path, component, tensors, total):
            return "\(path): \(total) tensor(s) of the \(component) that the FLUX.1 layout does not have, e.g. \(Self.list(tensors))"
        case let .cannotInfer(path, component, detail):
            return "\(path): cannot infer the \(component) config: \(detail)"
        case let .duplicateComponent(component, first, second):
            return "both \(first) and \(second) hold a \(component); give each component once"
        case let .noComponents(paths):
            return "no model in \(paths.joined(separator: ", "))"
        case let .invalidOption(option, detail):
            return "\(option): \(detail)"
        case let .destinationExists(path):
            return "\(path) already exists and is not empty (use --force to replace it)"
        case let .destination(path, detail):
            return "\(path): \(detail)"
        }
    }

    public var errorDescription: String? { description }

    private static func list(_ names: [String]) -> String {
        names.prefix(5).map { "'\($0)'" }.joined(separator: ", ")
    }
}
