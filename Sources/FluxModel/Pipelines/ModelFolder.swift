import Foundation

/// A model folder in the diffusers layout: `model_index.json` naming the pipeline class and its components,
/// one sub-folder per component. Validation checks the architecture names and that every file the loaders
/// need is present, so a broken folder fails before any weights are read, with the missing piece named.
public struct ModelFolder: Sendable {
    public let url: URL
    /// `_class_name` of model_index.json.
    public let pipelineClass: String
    /// Component name → (library, class), as model_index.json lists them (null entries left out).
    public let components: [String: (library: String, className: String)]

    public static let pipelineClasses = ["FluxPipeline"]

    /// The components a FluxPipeline needs, the classes this code implements for each, and the files each needs.
    /// A file requirement is a list of alternatives (one of them must exist).
    struct Requirement {
        let component: String
        let classes: [String]
        let files: [[String]]
        let needsWeights: Bool
    }

    static let requirements: [Requirement] = [
        Requirement(component: "transformer", classes: ["FluxTransformer2DModel"], files: [["config.json"]], needsWeights: true),
        Requirement(component: "vae", classes: ["AutoencoderKL"], files: [["config.json"]], needsWeights: true),
        Requirement(component: "text_encoder", classes: ["CLIPTextModel"], files: [["config.json"]], needsWeights: true),
        Requirement(component: "text_encoder_2", classes: ["T5EncoderModel"], files: [["config.json"]], needsWeights: true),
        Requirement(component: "tokenizer", classes: ["CLIPTokenizer", "CLIPTokenizerFast"],
                    files: [["tokenizer.json", "vocab.json"]], needsWeights: false),
        Requirement(component: "tokenizer_2", classes: ["T5TokenizerFast", "T5Tokenizer"],
                    files: [["tokenizer.json"]], needsWeights: false),
        Requirement(component: "scheduler", classes: ["FlowMatchEulerDiscreteScheduler"],
                    files: [["scheduler_config.json"]], needsWeights: false),
    ]

    /// Reads model_index.json and validates the whole folder.
    public init(url: URL) throws {
        self.url = url
        let indexURL = url.appendingPathComponent("model_index.json")
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ModelFolderError.notAFolder(url.path)
        }
        guard let data = FileManager.default.contents(atPath: indexURL.path) else {
            throw ModelFolderError.missingFile(indexURL.path, "the pipeline index")
        }
        guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ModelFolderError.invalidIndex(indexURL.path, "not a JSON object")
        }
        guard let className = json["_class_name"] as? String else {
            throw ModelFolderError.invalidIndex(indexURL.path, "missing field '_class_name'")
        }
        guard Self.pipelineClasses.contains(className) else {
            throw ModelFolderError.unknownArchitecture(component: "model_index.json", found: className,
                                                       supported: Self.pipelineClasses)
        }
        var components: [String: (library: String, className: String)] = [:]
        for (key, value) in json where !key.hasPrefix("_") {
            guard let pair = value as? [Any], pair.count == 2 else {
                throw ModelFolderError.invalidIndex(indexURL.path, "field '\(key)' must be [library, class]")
            }
            if let library = pair[0] as? String, let cls = pair[1] as? String {
                components[key] = (library, cls)
            }
        }
        pipelineClass = className
        self.components = components
        try validate()
    }

    /// Which model folder a command uses: the flag, else `TERNFLUX_MODEL`, else `models/default` under the
    /// current directory if it exists.
    public static func resolve(flag: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
                               currentDirectory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        throws -> URL {
        if let flag, !flag.isEmpty { return URL(fileURLWithPath: flag) }
        if let env = environment["TERNFLUX_MODEL"], !env.isEmpty { return URL(fileURLWithPath: env) }
        let fallback = currentDirectory.appendingPathComponent("models/default")
        if FileManager.default.fileExists(atPath: fallback.appendingPathComponent("model_index.json").path) {
            return fallback
        }
        throw ModelFolderError.noModel("no model folder: pass --model DIR, set TERNFLUX_MODEL, or run where "
                                       + "models/default/model_index.json exists (looked in \(fallback.path))")
    }

    public func directory(_ component: String) -> URL { url.appendingPathComponent(component, isDirectory: true) }

    public var transformerDirectory: URL { directory("transformer") }
    public var vaeDirectory: URL { directory("vae") }
    public var schedulerConfigURL: URL { directory("scheduler").appendingPathComponent("scheduler_config.json") }

    /// Checks components, their class names and their files.
    public func validate() throws {
        let fm = FileManager.default
        for req in Self.requirements {
            guard let entry = components[req.component] else {
                throw ModelFolderError.missingComponent(req.component, url.appendingPathComponent("model_index.json").path)
            }
            guard req.classes.contains(entry.className) else {
                throw ModelFolderError.unknownArchitecture(component: req.component, found: entry.className,
                                                           supported: req.classes)
            }
            let dir = directory(req.component)
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: dir.path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ModelFolderError.missingFile(dir.path, "the \(req.component) folder")
            }
            for alternatives in req.files {
                guard alternatives.contains(where: { fm.fileExists(atPath: dir.appendingPathComponent($0).path) }) else {
                    throw ModelFolderError.missingFile(dir.appendingPathComponent(alternatives[0]).path,
                                                       "a \(req.component) file" + (alternatives.count > 1
                                                           ? " (or \(alternatives.dropFirst().joined(separator: ", ")))" : ""))
                }
            }
            if req.component == "tokenizer", !fm.fileExists(atPath: dir.appendingPathComponent("tokenizer.json").path),
               !fm.fileExists(atPath: dir.appendingPathComponent("merges.txt").path) {
                throw ModelFolderError.missingFile(dir.appendingPathComponent("merges.txt").path, "the CLIP BPE merges")
            }
            if req.needsWeights {
                let files = (try? fm.contentsOfDirectory(atPath: dir.path)) ?? []
                guard files.contains(where: { $0.hasSuffix(".safetensors") }) else {
                    throw ModelFolderError.missingFile(dir.appendingPathComponent("*.safetensors").path,
                                                       "the \(req.component) weights")
                }
            }
            try checkConfigClass(req)
        }
    }

    /// A component's own config.json, when it names a class, must agree with model_index.json.
    private func checkConfigClass(_ req: Requirement) throws {
        let configName = req.component == "scheduler" ? "scheduler_config.json" : "config.json"
        let configURL = directory(req.component).appendingPathComponent(configName)
        guard let data = FileManager.default.contents(atPath: configURL.path) else { return }
        guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ModelFolderError.invalidIndex(configURL.path, "not a JSON object")
        }
        if let cls = json["_class_name"] as? String, !req.classes.contains(cls) {
            throw ModelFolderError.unknownArchitecture(component: "\(req.component)/\(configName)", found: cls,
                                                       supported: req.classes)
        }
        if let archs = json["architectures"] as? [String], let arch = archs.first, !req.classes.contains(arch) {
            throw ModelFolderError.unknownArchitecture(component: "\(req.component)/\(configName)", found: arch,
                                                       supported: req.classes)
        }
    }
}

public enum ModelFolderError: Error, CustomStringConvertible, Equatable {
    case notAFolder(String)
    case missingFile(String, String)
    case invalidIndex(String, String)
    case missingComponent(String, String)
    case unknownArchitecture(component: String, found: String, supported: [String])
    case noModel(String)

    public var description: String {
        switch self {
        case let .notAFolder(path): return "model folder \(path) does not exist or is not a folder"
        case let .missingFile(path, what): return "model folder is missing \(what): \(path)"
        case let .invalidIndex(path, message): return "invalid \(path): \(message)"
        case let .missingComponent(name, index): return "\(index) does not list the '\(name)' component"
        case let .unknownArchitecture(component, found, supported):
            return "\(component): unknown architecture '\(found)' (supported: \(supported.joined(separator: ", ")))"
        case let .noModel(message): return message
        }
    }
}
