import Foundation
import StrictJSON

public enum QuantizeError: Error, Equatable, CustomStringConvertible, LocalizedError {
    case source(path: String, detail: String)
    case destinationExists(path: String)
    case destination(path: String, detail: String)
    case notALinear(file: String, tensor: String, detail: String)

    public var description: String {
        switch self {
        case let .source(path, detail): return "\(path): \(detail)"
        case let .destinationExists(path): return "\(path) already exists (use --force to replace it)"
        case let .destination(path, detail): return "\(path): \(detail)"
        case let .notALinear(file, tensor, detail): return "\(file): tensor '\(tensor)' cannot be quantized as a linear weight: \(detail)"
        }
    }

    public var errorDescription: String? { description }
}

/// What a conversion did.
public struct QuantizeReport: Sendable {
    /// Bytes of every file read from the source (whole pipeline folder, or the transformer folder).
    public var sourceBytes: Int64 = 0
    public var destinationBytes: Int64 = 0
    /// The transformer's safetensors files alone, before and after.
    public var sourceTransformerBytes: Int64 = 0
    public var destinationTransformerBytes: Int64 = 0
    /// Quantized weight names, and names written through unchanged.
    public var quantized: [String] = []
    public var passThrough: [String] = []
    /// Parameters in quantized weights, and in pass-through tensors.
    public var quantizedParameters: Int64 = 0
    public var passThroughParameters: Int64 = 0
    /// Quantized weights whose per-row scales came from the source (`<name>_scale`, F32), kept bit for bit.
    public var learnedScales: [String] = []
}

/// `ternflux quantize`: converts a diffusers FLUX transformer folder, or a whole pipeline folder, to a ternary
/// checkpoint (docs/formats.md). Streams one tensor at a time, writes into a temporary folder next to the
/// destination and renames it into place only when everything succeeded.
public struct CheckpointQuantizer {
    public var format: TernaryFormat
    public var force: Bool
    /// Receives progress lines; `verbose` lines (per-tensor detail) are marked.
    public var log: (_ line: String, _ verbose: Bool) -> Void

    public init(format: TernaryFormat, force: Bool = false, log: @escaping (_ line: String, _ verbose: Bool) -> Void = { _, _ in }) {
        self.format = format
        self.force = force
        self.log = log
    }

    /// Linear modules inside FLUX blocks, by their path within a block (diffusers names).
    public static let blockLinearModules: Set<String> = [
        // double-stream blocks (transformer_blocks.N)
        "norm1.linear", "norm1_context.linear",
        "attn.to_q", "attn.to_k", "attn.to_v", "attn.to_out.0",
        "attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj", "attn.to_add_out",
        "ff.net.0.proj", "ff.net.2", "ff_context.net.0.proj", "ff_context.net.2",
        // single-stream blocks (single_transformer_blocks.N)
        "norm.linear", "proj_mlp", "proj_out",
    ]

    /// True for `transformer_blocks.<i>.<linear>.weight` and `single_transformer_blocks.<i>.<linear>.weight`.
    public static func isBlockLinearWeight(_ name: String) -> Bool {
        guard name.hasSuffix(".weight") else { return false }
        let parts = name.dropLast(".weight".count).split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "transformer_blocks" || parts[0] == "single_transformer_blocks",
              !parts[1].isEmpty, parts[1].allSatisfy(\.isASCII), parts[1].allSatisfy(\.isNumber) else { return false }
        return blockLinearModules.contains(String(parts[2]))
    }

    public func run(source: URL, destination: URL) throws -> QuantizeReport {
        let fm = FileManager.default
        let src = source.standardizedFileURL.resolvingSymlinksInPath()
        let dst = destination.standardizedFileURL
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: src.path, isDirectory: &isDir), isDir.boolValue else {
            throw QuantizeError.source(path: src.path, detail: "not a folder")
        }
        let isPipeline = fm.fileExists(atPath: src.appendingPathComponent("model_index.json").path)
        let transformerSource = isPipeline ? src.appendingPathComponent("transformer") : src
        guard fm.fileExists(atPath: transformerSource.appendingPathComponent("config.json").path) else {
            throw QuantizeError.source(path: transformerSource.path, detail: isPipeline
                ? "pipeline folder has no transformer/config.json"
                : "neither a pipeline folder (model_index.json) nor a transformer folder (config.json)")
        }
        let dstResolved = dst.deletingLastPathComponent().resolvingSymlinksInPath().appendingPathComponent(dst.lastPathComponent)
        if dstResolved.path == src.path || dstResolved.path.hasPrefix(src.path + "/") || src.path.hasPrefix(dstResolved.path + "/") {
            throw QuantizeError.destination(path: dst.path, detail: "destination must not overlap the source \(src.path)")
        }
        let exists = fm.fileExists(atPath: dst.path) || (try? fm.destinationOfSymbolicLink(atPath: dst.path)) != nil
        if exists && !force { throw QuantizeError.destinationExists(path: dst.path) }
        let parent = dst.deletingLastPathComponent()
        guard fm.fileExists(atPath: parent.path, isDirectory: &isDir), isDir.boolValue else {
            throw QuantizeError.destination(path: dst.path, detail: "parent folder \(parent.path) does not exist")
        }

        let temp = parent.appendingPathComponent(".\(dst.lastPathComponent).partial-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))")
        do {
            try fm.createDirectory(at: temp, withIntermediateDirectories: false)
        } catch {
            throw QuantizeError.destination(path: temp.path, detail: "cannot create the temporary folder: \(error.localizedDescription)")
        }
        var report = QuantizeReport()
        do {
            if isPipeline {
                for name in try sortedContents(src) where name != "transformer" {
                    report.sourceBytes += try copyTree(src.appendingPathComponent(name), to: temp.appendingPathComponent(name))
                }
                try fm.createDirectory(at: temp.appendingPathComponent("transformer"), withIntermediateDirectories: false)
                try convertTransformer(transformerSource, to: temp.appendingPathComponent("transformer"), report: &report)
            } else {
                try convertTransformer(transformerSource, to: temp, report: &report)
            }
            report.destinationBytes = try treeSize(temp)
            if exists {
                let trash = parent.appendingPathComponent(".\(dst.lastPathComponent).replaced-\(ProcessInfo.processInfo.processIdentifier)")
                try fm.moveItem(at: dst, to: trash)
                do {
                    try fm.moveItem(at: temp, to: dst)
                } catch {
                    try? fm.moveItem(at: trash, to: dst)
                    throw error
                }
                try? fm.removeItem(at: trash)
            } else {
                try fm.moveItem(at: temp, to: dst)
            }
        } catch {
            try? fm.removeItem(at: temp)
            throw error
        }
        return report
    }

    private func sortedContents(_ url: URL) throws -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: url.path).sorted()
        } catch {
            throw QuantizeError.source(path: url.path, detail: "cannot list folder: \(error.localizedDescription)")
        }
    }

    /// Copies a file or folder, following symbolic links (Hugging Face caches link into a blob store).
    private func copyTree(_ from: URL, to: URL) throws -> Int64 {
        let fm = FileManager.default
        let real = from.resolvingSymlinksInPath()
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: real.path, isDirectory: &isDir) else {
            throw QuantizeError.source(path: from.path, detail: "dangling link or unreadable entry")
        }
        if isDir.boolValue {
            try fm.createDirectory(at: to, withIntermediateDirectories: false)
            var total: Int64 = 0
            for name in try sortedContents(real) {
                total += try copyTree(real.appendingPathComponent(name), to: to.appendingPathComponent(name))
            }
            return total
        }
        do {
            try fm.copyItem(at: real, to: to)
        } catch {
            throw QuantizeError.destination(path: to.path, detail: "cannot copy \(from.path): \(error.localizedDescription)")
        }
        log("copied \(from.path)", true)
        return fileSize(real)
    }

    private func fileSize(_ url: URL) -> Int64 {
        ((try? FileManager.default.attributesOfItem(atPath: url.path)[.size]) as? NSNumber)?.int64Value ?? 0
    }

    private func treeSize(_ url: URL) throws -> Int64 {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else { return 0 }
        if !isDir.boolValue { return fileSize(url) }
        return try sortedContents(url).reduce(0) { $0 + (try treeSize(url.appendingPathComponent($1))) }
    }

    /// Writes the ternary transformer: every source shard becomes a shard of the same name (so an index keeps
    /// its shape), each tensor in header order, block linears replaced by payload + scale.
    private func convertTransformer(_ src: URL, to out: URL, report: inout QuantizeReport) throws {
        let checkpoint: SafeTensorsCheckpoint
        do {
            checkpoint = try SafeTensorsCheckpoint(directory: src)
        } catch {
            throw QuantizeError.source(path: src.path, detail: "\(error)")
        }
        let shardNames = Set(checkpoint.files.map { $0.url.lastPathComponent })
        // A block linear stored with its own F32 scale `<weight>_scale` (a distilled student: the weight is
        // scale·{−1, 0, +1} exactly) keeps that scale; the scale tensor is consumed, not passed through.
        var learnedScale = Set<String>()
        for file in checkpoint.files {
            for name in file.tensorNames where Self.isBlockLinearWeight(name) {
                let scaleName = TernaryCheckpointKeys.scaleName(forWeight: name)
                if checkpoint.contains(scaleName) { learnedScale.insert(scaleName) }
            }
        }
        let indexName = checkpoint.indexURL?.lastPathComponent
        // Other files (config.json first of all) are copied unchanged; weights in other formats are left out.
        for name in try sortedContents(src) where !shardNames.contains(name) && name != indexName {
            if [".bin", ".pt", ".pth", ".ckpt", ".safetensors"].contains(where: name.hasSuffix) {
                log("skipped \(src.appendingPathComponent(name).path) (weights not listed in the safetensors checkpoint)", false)
                continue
            }
            report.sourceBytes += try copyTree(src.appendingPathComponent(name), to: out.appendingPathComponent(name))
        }

        var weightMap: [(String, String)] = []
        var totalSize: Int64 = 0
        for file in checkpoint.files {
            let shard = file.url.lastPathComponent
            let bytesIn = fileSize(file.url)
            report.sourceBytes += bytesIn
            report.sourceTransformerBytes += bytesIn
            let names = try file.tensorNames.filter { try checkpoint.file(containing: $0) === file && !learnedScale.contains($0) }

            // Plan the output header first: the writer needs every size up front.
            var infos: [TensorInfo] = []
            var metadata = file.metadata
            metadata[TernaryCheckpointKeys.packing] = format.rawValue
            metadata[TernaryCheckpointKeys.formatVersion] = TernaryCheckpointKeys.currentFormatVersion
            var quantize = Set<String>()
            for name in names {
                let info = try file.info(name)
                guard Self.isBlockLinearWeight(name) else {
                    infos.append(info)
                    continue
                }
                guard info.shape.count == 2 else {
                    throw QuantizeError.notALinear(file: file.url.path, tensor: name, detail: "shape \(info.shape) is not [out, in]")
                }
                guard file.metadata[TernaryCheckpointKeys.shapeKey(forWeight: name)] == nil else {
                    throw QuantizeError.source(path: file.url.path, detail: "already a ternary checkpoint ('\(name)' is packed)")
                }
                guard info.dtype.isFloatingPoint else {
                    throw QuantizeError.notALinear(file: file.url.path, tensor: name, detail: "dtype \(info.dtype.rawValue) is not F32, F16 or BF16")
                }
                let (n, k) = (info.shape[0], info.shape[1])
                quantize.insert(name)
                infos.append(TensorInfo(name: name, dtype: .u8, shape: [n, format.rowBytes(inFeatures: k)]))
                let scaleName = TernaryCheckpointKeys.scaleName(forWeight: name)
                if let scaleInfo = try? checkpoint.file(containing: scaleName).info(scaleName) {
                    guard scaleInfo.dtype == .f32, scaleInfo.shape == [n] else {
                        throw QuantizeError.source(path: file.url.path, detail: "learned scale '\(scaleName)' must be F32 [\(n)], is \(scaleInfo.dtype.rawValue) \(scaleInfo.shape)")
                    }
                }
                infos.append(TensorInfo(name: scaleName, dtype: .f32, shape: [n]))
                metadata[TernaryCheckpointKeys.shapeKey(forWeight: name)] = "\(n),\(k)"
            }

            let outURL = out.appendingPathComponent(shard)
            let writer = try SafeTensorsWriter(url: outURL, tensors: infos, metadata: metadata)
            for name in names {
                let info = try file.info(name)
                if quantize.contains(name) {
                    let (n, k) = (info.shape[0], info.shape[1])
                    let weight = try file.floats(name)
                    let q: TernaryWeight
                    let scaleName = TernaryCheckpointKeys.scaleName(forWeight: name)
                    let hasScale = learnedScale.contains(scaleName)
                    do {
                        q = hasScale
                            ? try TernaryQuantizer.withScales(weight, scale: try checkpoint.floats(scaleName), outFeatures: n, inFeatures: k, name: name)
                            : try TernaryQuantizer.absmean(weight, outFeatures: n, inFeatures: k, name: name)
                    } catch {
                        throw QuantizeError.notALinear(file: file.url.path, tensor: name, detail: "\(error)")
                    }
                    try writer.write(name, data: try q.packed(format))
                    try writer.write(TernaryCheckpointKeys.scaleName(forWeight: name), floats: q.scale)
                    report.quantized.append(name)
                    if hasScale { report.learnedScales.append(name) }
                    report.quantizedParameters += Int64(n * k)
                    log("quantized \(name) [\(n), \(k)] \(info.dtype.rawValue) → \(format.rawValue)\(hasScale ? " (learned scales kept)" : "")", true)
                } else {
                    try writer.write(name, bytes: try file.bytes(name))
                    report.passThrough.append(name)
                    report.passThroughParameters += Int64(info.elementCount ?? 0)
                    let note = info.shape.count == 2 && name.hasSuffix(".weight")
                        && (name.hasPrefix("transformer_blocks.") || name.hasPrefix("single_transformer_blocks."))
                        ? " (2-D but not a known FLUX block linear)" : ""
                    log("kept \(name) \(info.dtype.rawValue) \(info.shape)\(note)", true)
                }
                file.region.dropPages(try file.fileRange(name))
            }
            try writer.finish()
            for t in infos {
                weightMap.append((t.name, shard))
                totalSize += Int64(t.byteCount ?? 0)
            }
            let bytesOut = fileSize(outURL)
            report.destinationTransformerBytes += bytesOut
            log("wrote \(outURL.lastPathComponent): \(formatBytes(bytesIn)) → \(formatBytes(bytesOut))", false)
        }

        if let indexName {
            let entries = weightMap.sorted { $0.0 < $1.0 }.map { "    \(jsonQuoted($0.0)): \(jsonQuoted($0.1))" }.joined(separator: ",\n")
            let text = "{\n  \"metadata\": {\n    \"total_size\": \(totalSize)\n  },\n  \"weight_map\": {\n\(entries)\n  }\n}\n"
            do {
                try Data(text.utf8).write(to: out.appendingPathComponent(indexName))
            } catch {
                throw QuantizeError.destination(path: out.appendingPathComponent(indexName).path, detail: error.localizedDescription)
            }
        }
    }
}

/// "23.80 GB" style sizes (decimal units, as file managers and the 1.58-bit FLUX paper report them).
public func formatBytes(_ bytes: Int64) -> String {
    let units = ["B", "KB", "MB", "GB", "TB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1000 && unit < units.count - 1 { value /= 1000; unit += 1 }
    return unit == 0 ? "\(bytes) B" : "\(String(format: "%.2f", value)) \(units[unit])"
}
