import Foundation
import TernaryTensors

/// Values a single-file checkpoint does not store and FLUX.1's defaults do not fit (only tiny or custom models
/// need these; the released FLUX.1 files convert without any).
public struct SingleFileConversionOptions: Sendable, Equatable {
    /// The transformer's `axes_dims_rope` (default: FLUX.1's [16, 56, 56] for head dim 128).
    public var axesDimsRope: [Int]?
    /// The VAE's `norm_num_groups` (default: FLUX.1's 32).
    public var vaeNormNumGroups: Int?
    /// CLIP's `num_attention_heads` (default: hidden size / 64).
    public var clipAttentionHeads: Int?

    public init(axesDimsRope: [Int]? = nil, vaeNormNumGroups: Int? = nil, clipAttentionHeads: Int? = nil) {
        self.axesDimsRope = axesDimsRope
        self.vaeNormNumGroups = vaeNormNumGroups
        self.clipAttentionHeads = clipAttentionHeads
    }
}

/// `ternflux convert`: single-file FLUX.1 checkpoints (BFL flux1-dev / flux1-schnell.safetensors, ComfyUI / Forge
/// bundles, BFL ae.safetensors; several at once) to a diffusers-layout folder. Every source is memory-mapped and
/// every output tensor is a byte range (or two) of a source tensor, so the output is streamed with the source
/// pages dropped as they are copied: memory stays a few megabytes deep whatever the checkpoint's size, and each
/// tensor keeps its dtype. Everything is checked before anything is written; the folder is written as
/// `DST.partial-<random>` next to DST and renamed into place at the end, and removed on any error.
public struct SingleFileConverter {
    public var options: SingleFileConversionOptions
    public var force: Bool
    /// Receives progress lines; `verbose` lines (per-tensor detail) are marked.
    public var log: (_ line: String, _ verbose: Bool) -> Void
    /// Told the temporary folder's path just before it is created, so that a signal handler can remove it
    /// if the process is interrupted (errors remove it anyway).
    public var willCreateTemporaryFolder: (URL) -> Void

    public init(options: SingleFileConversionOptions = .init(), force: Bool = false,
                log: @escaping (_ line: String, _ verbose: Bool) -> Void = { _, _ in },
                willCreateTemporaryFolder: @escaping (URL) -> Void = { _ in }) {
        self.options = options
        self.force = force
        self.log = log
        self.willCreateTemporaryFolder = willCreateTemporaryFolder
    }

    /// One diffusers component folder to write.
    public struct Component {
        /// `transformer`, `vae`, `text_encoder`, `text_encoder_2`.
        public let folder: String
        public let weightsFile: String
        public let config: ConfigJSON
        public let tensors: [SlicedTensor]
        /// The source file and prefix it comes from (for the log).
        public let source: String
    }

    /// Everything that will be written, fully checked.
    public struct Plan {
        public let components: [Component]
        /// dev or schnell when a transformer is among the sources (then model_index.json, the scheduler config and
        /// generation_defaults.json are written too).
        public let variant: FluxPipelineFiles.Variant?
        public let transformerConfig: FluxTransformerConfig?
        /// The sources, kept open while the plan's pieces point into them.
        public let files: [SafeTensorsFile]
        /// Tensors left out on purpose, with why.
        public let skipped: [(name: String, reason: String)]
    }

    public struct Report {
        public let destination: URL
        public let components: [(folder: String, tensors: Int, bytes: Int64)]
        public let variant: FluxPipelineFiles.Variant?
        public let seconds: Double
    }

    /// True when `url` is a regular file (a single-file checkpoint) rather than a folder.
    public static func isSingleFile(_ url: URL) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) && !isDir.boolValue
    }

    /// Opens and classifies every source, infers every config and maps every tensor; writes nothing.
    public func plan(sources: [URL]) throws -> Plan {
        var files: [SafeTensorsFile] = []
        var found: [String: SourceComponent] = [:]
        for url in sources {
            let file: SafeTensorsFile
            do {
                file = try SafeTensorsFile(url: url)
            } catch {
                throw ConversionError.unreadable(path: url.path, detail: "\(error)")
            }
            files.append(file)
            let layout = try SingleFileLayout.classify(file)
            for (key, component) in [("transformer", layout.transformer), ("vae", layout.vae),
                                     ("clip", layout.clip), ("t5", layout.t5)] {
                guard let component else { continue }
                if let earlier = found[key] {
                    throw ConversionError.duplicateComponent(component: component.component, first: earlier.path, second: component.path)
                }
                found[key] = component
            }
        }
        guard !found.isEmpty else { throw ConversionError.noComponents(paths: sources.map(\.path)) }

        var components: [Component] = []
        var variant: FluxPipelineFiles.Variant?
        var transformerConfig: FluxTransformerConfig?
        func describe(_ s: SourceComponent) -> String { s.prefix.isEmpty ? s.path : "\(s.path) (\(s.prefix)*)" }
        if let s = found["transformer"] {
            let config = try BFLTransformerMapping.inferConfig(s, axesDimsRope: options.axesDimsRope)
            components.append(Component(folder: "transformer", weightsFile: "diffusion_pytorch_model.safetensors",
                                        config: BFLTransformerMapping.configJSON(config),
                                        tensors: try BFLTransformerMapping.plan(s, config: config), source: describe(s)))
            transformerConfig = config
            // Fill / Depth transformers (more input channels) belong to other pipelines: transformer/ only.
            if config.inChannels == 64 { variant = FluxPipelineFiles.Variant(guidanceEmbeds: config.guidanceEmbeds) }
        }
        if let s = found["vae"] {
            let config = try LDMVAEMapping.inferConfig(s, normNumGroups: options.vaeNormNumGroups)
            components.append(Component(folder: "vae", weightsFile: "diffusion_pytorch_model.safetensors",
                                        config: LDMVAEMapping.configJSON(config),
                                        tensors: try LDMVAEMapping.plan(s, config: config), source: describe(s)))
        }
        if let s = found["clip"] {
            let clip = try BundledCLIPMapping.convert(s, attentionHeads: options.clipAttentionHeads)
            components.append(Component(folder: "text_encoder", weightsFile: "model.safetensors", config: clip.json,
                                        tensors: clip.tensors, source: describe(s)))
        }
        if let s = found["t5"] {
            let t5 = try BundledT5Mapping.convert(s)
            components.append(Component(folder: "text_encoder_2", weightsFile: "model.safetensors", config: t5.json,
                                        tensors: t5.tensors, source: describe(s)))
        }
        return Plan(components: components, variant: variant, transformerConfig: transformerConfig, files: files,
                    skipped: found.values.flatMap(\.skipped))
    }

    /// Converts `sources` into the folder `destination`.
    public func run(sources: [URL], destination: URL) throws -> Report {
        let start = Date()
        let fm = FileManager.default
        let dst = destination.standardizedFileURL
        let parent = dst.deletingLastPathComponent()
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: parent.path, isDirectory: &isDir), isDir.boolValue else {
            throw ConversionError.destination(path: dst.path, detail: "parent folder \(parent.path) does not exist")
        }
        let realDst = parent.resolvingSymlinksInPath().appendingPathComponent(dst.lastPathComponent).path
        for src in sources {
            let real = src.standardizedFileURL.resolvingSymlinksInPath().path
            if real == realDst || real.hasPrefix(realDst + "/") {
                throw ConversionError.destination(path: dst.path, detail: "holds the source \(src.path); choose another destination")
            }
        }
        let exists = fm.fileExists(atPath: dst.path) || (try? fm.destinationOfSymbolicLink(atPath: dst.path)) != nil
        let emptyFolder = exists && fm.fileExists(atPath: dst.path, isDirectory: &isDir) && isDir.boolValue
            && ((try? fm.contentsOfDirectory(atPath: dst.path))?.isEmpty ?? false)
        if exists && !emptyFolder && !force { throw ConversionError.destinationExists(path: dst.path) }

        let plan = try self.plan(sources: sources)

        let suffix = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        let temp = parent.appendingPathComponent("\(dst.lastPathComponent).partial-\(suffix)")
        willCreateTemporaryFolder(temp)
        do {
            try fm.createDirectory(at: temp, withIntermediateDirectories: false)
        } catch {
            throw ConversionError.destination(path: temp.path, detail: "cannot create the temporary folder: \(error.localizedDescription)")
        }
        var written: [(folder: String, tensors: Int, bytes: Int64)] = []
        do {
            for c in plan.components {
                let folder = temp.appendingPathComponent(c.folder)
                try fm.createDirectory(at: folder, withIntermediateDirectories: false)
                try write(c.config, to: folder.appendingPathComponent("config.json"))
                let weights = folder.appendingPathComponent(c.weightsFile)
                try SlicedTensorWriter.write(url: weights, tensors: c.tensors, metadata: ["format": "pt"])
                let bytes = ((try? fm.attributesOfItem(atPath: weights.path)[.size]) as? NSNumber)?.int64Value ?? 0
                written.append((c.folder, c.tensors.count, bytes))
                let dtypes = Set(c.tensors.map(\.info.dtype.rawValue)).sorted().joined(separator: "/")
                log("\(c.folder)/: \(c.tensors.count) tensors (\(dtypes), \(formatBytes(bytes))) from \(c.source)", false)
                for t in c.tensors {
                    let from = t.pieces.map { "\($0.tensor)[\($0.bytes.lowerBound)..<\($0.bytes.upperBound)]" }.joined(separator: " + ")
                    log("  \(t.info.name) \(t.info.dtype.rawValue) \(t.info.shape) ← \(from)", true)
                }
            }
            for (name, reason) in plan.skipped { log("left out \(name): \(reason)", false) }
            if let variant = plan.variant {
                try write(FluxPipelineFiles.modelIndex, to: temp.appendingPathComponent("model_index.json"))
                let scheduler = temp.appendingPathComponent("scheduler")
                try fm.createDirectory(at: scheduler, withIntermediateDirectories: false)
                try write(FluxPipelineFiles.schedulerConfig(variant), to: scheduler.appendingPathComponent("scheduler_config.json"))
                try write(FluxPipelineFiles.generationDefaults(variant), to: temp.appendingPathComponent("generation_defaults.json"))
                log("FLUX.1-\(variant.rawValue): wrote model_index.json, scheduler/scheduler_config.json, generation_defaults.json", false)
            } else if let c = plan.transformerConfig {
                log("in_channels \(c.inChannels) is not FLUX.1's text-to-image 64 (a Fill or Depth model?): wrote transformer/ without pipeline files", false)
            }
            try install(temp, at: dst, replacing: exists)
        } catch {
            try? fm.removeItem(at: temp)
            throw error
        }
        return Report(destination: dst, components: written, variant: plan.variant, seconds: Date().timeIntervalSince(start))
    }

    private func write(_ json: ConfigJSON, to url: URL) throws {
        do {
            try Data(json.text.utf8).write(to: url)
        } catch {
            throw ConversionError.destination(path: url.path, detail: "cannot write: \(error.localizedDescription)")
        }
    }

    /// Renames the finished folder into place; an existing DST (empty, or any with --force) is replaced only now.
    private func install(_ temp: URL, at dst: URL, replacing exists: Bool) throws {
        let fm = FileManager.default
        if exists {
            // rename(2) replaces an empty folder atomically; anything else is moved aside first.
            if rename(temp.path, dst.path) == 0 { return }
            let aside = dst.deletingLastPathComponent().appendingPathComponent("\(dst.lastPathComponent).replaced-\(ProcessInfo.processInfo.processIdentifier)")
            do {
                try fm.moveItem(at: dst, to: aside)
            } catch {
                throw ConversionError.destination(path: dst.path, detail: "cannot move the old folder aside: \(error.localizedDescription)")
            }
            do {
                try fm.moveItem(at: temp, to: dst)
            } catch {
                try? fm.moveItem(at: aside, to: dst)
                throw ConversionError.destination(path: dst.path, detail: "cannot rename \(temp.path) into place: \(error.localizedDescription)")
            }
            try? fm.removeItem(at: aside)
        } else {
            do {
                try fm.moveItem(at: temp, to: dst)
            } catch {
                throw ConversionError.destination(path: dst.path, detail: "cannot rename \(temp.path) into place: \(error.localizedDescription)")
            }
        }
    }
}
