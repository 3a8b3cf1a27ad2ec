import Foundation
import StrictJSON

/// All tensors of a checkpoint: one safetensors file, every `*.safetensors` in a folder, or the shards named
/// by a `*.safetensors.index.json` (diffusers / transformers sharding). Files are memory-mapped.
public final class SafeTensorsCheckpoint: @unchecked Sendable {
    /// The folder (or file) the checkpoint was opened from.
    public let directory: URL
    /// The shard index, when the checkpoint is sharded.
    public let indexURL: URL?
    public let files: [SafeTensorsFile]
    /// Every tensor name, file by file in header order.
    public let tensorNames: [String]
    /// `__metadata__` of all files merged (on a key present in several files, the first file's value wins).
    public let metadata: [String: String]
    private let owner: [String: Int]

    /// Opens `url`: a `.safetensors` file, a `.safetensors.index.json`, or a folder holding either.
    public init(directory url: URL) throws {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: url.path, isDirectory: &isDir) else {
            throw SafeTensorsError.cannotOpen(file: url.path, reason: "no such file or folder")
        }
        directory = url
        if !isDir.boolValue {
            if url.lastPathComponent.hasSuffix(".index.json") {
                indexURL = url
                let (files, owner) = try Self.openIndex(url)
                self.files = files
                self.owner = owner
            } else {
                indexURL = nil
                files = [try SafeTensorsFile(url: url)]
                owner = try Self.ownership(files)
            }
        } else {
            let names: [String]
            do {
                names = try fm.contentsOfDirectory(atPath: url.path).sorted()
            } catch {
                throw SafeTensorsError.cannotOpen(file: url.path, reason: "cannot list folder: \(error)")
            }
            let indexes = names.filter { $0.hasSuffix(".safetensors.index.json") }
            if indexes.count > 1 {
                throw SafeTensorsError.invalidIndex(file: url.path, detail: "several shard indexes: \(indexes.joined(separator: ", "))")
            }
            if let index = indexes.first {
                let indexURL = url.appendingPathComponent(index)
                self.indexURL = indexURL
                let (files, owner) = try Self.openIndex(indexURL)
                self.files = files
                self.owner = owner
            } else {
                let shards = names.filter { $0.hasSuffix(".safetensors") }
                guard !shards.isEmpty else {
                    throw SafeTensorsError.cannotOpen(file: url.path, reason: "no .safetensors files in this folder")
                }
                indexURL = nil
                files = try shards.map { try SafeTensorsFile(url: url.appendingPathComponent($0)) }
                owner = try Self.ownership(files)
            }
        }
        var names: [String] = []
        var meta: [String: String] = [:]
        let owner = self.owner
        for (i, f) in files.enumerated() {
            names += f.tensorNames.filter { owner[$0] == i }
            meta.merge(f.metadata) { first, _ in first }
        }
        tensorNames = names
        metadata = meta
    }

    /// Which file holds each tensor; a name in two files is an error.
    private static func ownership(_ files: [SafeTensorsFile]) throws -> [String: Int] {
        var owner: [String: Int] = [:]
        for (i, f) in files.enumerated() {
            for name in f.tensorNames {
                if let j = owner[name] {
                    throw SafeTensorsError.duplicateTensor(file: "\(files[j].url.path) and \(f.url.path)", tensor: name)
                }
                owner[name] = i
            }
        }
        return owner
    }

    /// Reads `{"metadata": {...}, "weight_map": {"tensor": "shard.safetensors", ...}}` and opens the shards.
    private static func openIndex(_ indexURL: URL) throws -> ([SafeTensorsFile], [String: Int]) {
        let path = indexURL.path
        let region = try MappedRegion(mapping: path)
        let json: StrictJSONValue
        do {
            json = try StrictJSONParser.parse(region.bytes)
        } catch let e as StrictJSONError {
            throw SafeTensorsError.invalidIndex(file: path, detail: "not valid JSON: \(e)")
        }
        guard case let .object(top) = json,
              let mapValue = top.first(where: { $0.key == "weight_map" })?.value,
              case let .object(map) = mapValue else {
            throw SafeTensorsError.invalidIndex(file: path, detail: "expected an object with a 'weight_map' object")
        }
        let folder = indexURL.deletingLastPathComponent()
        var files: [SafeTensorsFile] = []
        var fileNumber: [String: Int] = [:]
        var owner: [String: Int] = [:]
        for (tensor, value) in map {
            guard case let .string(shard) = value else {
                throw SafeTensorsError.invalidIndex(file: path, detail: "weight_map entry for '\(tensor)' is not a file name")
            }
            guard !shard.isEmpty, !shard.contains("/"), shard != "..", shard != "." else {
                throw SafeTensorsError.invalidIndex(file: path, detail: "weight_map entry for '\(tensor)' names '\(shard)', not a file in the index's folder")
            }
            let i: Int
            if let known = fileNumber[shard] {
                i = known
            } else {
                i = files.count
                files.append(try SafeTensorsFile(url: folder.appendingPathComponent(shard)))
                fileNumber[shard] = i
            }
            guard files[i].contains(tensor) else {
                throw SafeTensorsError.missingTensor(file: files[i].url.path, tensor: tensor)
            }
            owner[tensor] = i
        }
        // Tensors a shard holds but the index does not list are still readable, unless another shard has them.
        for (i, f) in files.enumerated() {
            for name in f.tensorNames where owner[name] != i {
                if let j = owner[name] {
                    guard map.contains(where: { $0.key == name }) else {
                        throw SafeTensorsError.duplicateTensor(file: "\(files[j].url.path) and \(f.url.path)", tensor: name)
                    }
                    continue
                }
                owner[name] = i
            }
        }
        return (files, owner)
    }

    public func contains(_ name: String) -> Bool { owner[name] != nil }

    /// The file holding `name`.
    public func file(containing name: String) throws -> SafeTensorsFile {
        guard let i = owner[name] else {
            throw SafeTensorsError.missingTensor(file: (indexURL ?? directory).path, tensor: name)
        }
        return files[i]
    }

    public func info(_ name: String) throws -> TensorInfo { try file(containing: name).info(name) }
    public func bytes(_ name: String) throws -> UnsafeRawBufferPointer { try file(containing: name).bytes(name) }
    public func floats(_ name: String) throws -> [Float] { try file(containing: name).floats(name) }
}
