import Foundation
import XCTest
import StrictJSON
@testable import TernaryTensors

/// `ternflux quantize` logic end to end on small FLUX-layout checkpoints built here (bf16, diffusers names).
final class CheckpointQuantizerTests: XCTestCase {
    private let d = 24          // inner dim
    private let blockLinears: [(String, Int, Int)] = {
        let d = 24
        return [
            ("transformer_blocks.0.norm1.linear", 6 * d, d), ("transformer_blocks.0.norm1_context.linear", 6 * d, d),
            ("transformer_blocks.0.attn.to_q", d, d), ("transformer_blocks.0.attn.to_k", d, d), ("transformer_blocks.0.attn.to_v", d, d),
            ("transformer_blocks.0.attn.to_out.0", d, d), ("transformer_blocks.0.attn.add_q_proj", d, d),
            ("transformer_blocks.0.attn.add_k_proj", d, d), ("transformer_blocks.0.attn.add_v_proj", d, d),
            ("transformer_blocks.0.attn.to_add_out", d, d), ("transformer_blocks.0.ff.net.0.proj", 4 * d, d),
            ("transformer_blocks.0.ff.net.2", d, 4 * d), ("transformer_blocks.0.ff_context.net.0.proj", 4 * d, d),
            ("transformer_blocks.0.ff_context.net.2", d, 4 * d),
            ("single_transformer_blocks.0.norm.linear", 3 * d, d), ("single_transformer_blocks.0.attn.to_q", d, d),
            ("single_transformer_blocks.0.attn.to_k", d, d), ("single_transformer_blocks.0.attn.to_v", d, d),
            ("single_transformer_blocks.0.proj_mlp", 4 * d, d), ("single_transformer_blocks.0.proj_out", d, 5 * d),
        ]
    }()

    /// Tensors of the test checkpoint: (name, shape); block linears have weight + bias.
    private func layout() -> [(String, [Int])] {
        var t: [(String, [Int])] = [
            ("x_embedder.weight", [d, 16]), ("x_embedder.bias", [d]),
            ("context_embedder.weight", [d, 8]), ("context_embedder.bias", [d]),
            ("time_text_embed.timestep_embedder.linear_1.weight", [d, 256]), ("time_text_embed.timestep_embedder.linear_1.bias", [d]),
            ("norm_out.linear.weight", [2 * d, d]), ("norm_out.linear.bias", [2 * d]),
            ("proj_out.weight", [16, d]), ("proj_out.bias", [16]),
            ("transformer_blocks.0.attn.norm_q.weight", [8]), ("transformer_blocks.0.attn.norm_k.weight", [8]),
            ("single_transformer_blocks.0.attn.norm_q.weight", [8]),
        ]
        for (p, n, k) in blockLinears { t += [("\(p).weight", [n, k]), ("\(p).bias", [n])] }
        return t
    }

    /// Writes the checkpoint into `folder` (one file, or `shards` files plus an index) and returns the fp32
    /// values of every tensor (exactly the bf16 values stored).
    @discardableResult
    private func buildTransformer(_ folder: URL, shards: Int = 1, seed: UInt64 = 5) throws -> [String: [Float]] {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data(#"{"_class_name": "FluxTransformer2DModel", "num_layers": 1, "num_single_layers": 1}"#.utf8)
            .write(to: folder.appendingPathComponent("config.json"))
        var rng = SplitMix64(seed: seed)
        var values: [String: [Float]] = [:]
        var entries: [(info: TensorInfo, data: [UInt8])] = []
        for (name, shape) in layout() {
            let v = (0..<shape.reduce(1, *)).map { _ in rng.signed() * 0.1 }
            let data = TensorInfo.encode(v, as: .bf16)
            values[name] = data.withUnsafeBytes { raw in
                (0..<v.count).map { Float(bitPattern: UInt32(raw.load(fromByteOffset: 2 * $0, as: UInt16.self)) << 16) }
            }
            entries.append((TensorInfo(name: name, dtype: .bf16, shape: shape), data))
        }
        if shards == 1 {
            try SafeTensorsWriter.write(url: folder.appendingPathComponent("diffusion_pytorch_model.safetensors"), tensors: entries,
                                        metadata: ["format": "pt"])
        } else {
            var map: [String] = []
            let per = (entries.count + shards - 1) / shards
            for s in 0..<shards {
                let file = "diffusion_pytorch_model-0000\(s + 1)-of-0000\(shards).safetensors"
                let part = Array(entries[(s * per)..<min(entries.count, (s + 1) * per)])
                try SafeTensorsWriter.write(url: folder.appendingPathComponent(file), tensors: part, metadata: ["format": "pt"])
                map += part.map { "\"\($0.info.name)\": \"\(file)\"" }
            }
            try Data("{\"metadata\": {\"total_size\": 1}, \"weight_map\": {\(map.joined(separator: ","))}}".utf8)
                .write(to: folder.appendingPathComponent("diffusion_pytorch_model.safetensors.index.json"))
        }
        return values
    }

    private func leftovers(in folder: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.contains(".partial-") || $0.contains(".replaced-") }
    }

    func testBlockLinearSelection() {
        for (p, _, _) in blockLinears { XCTAssertTrue(CheckpointQuantizer.isBlockLinearWeight("\(p).weight"), p) }
        for name in ["transformer_blocks.0.attn.norm_q.weight", "single_transformer_blocks.3.attn.norm_k.weight",
                     "transformer_blocks.0.attn.to_q.bias", "norm_out.linear.weight", "proj_out.weight",
                     "x_embedder.weight", "transformer_blocks.x.attn.to_q.weight", "transformer_blocks..attn.to_q.weight",
                     "transformer_blocks.0.attn.to_out.1.weight", "blocks.0.attn.to_q.weight"] {
            XCTAssertFalse(CheckpointQuantizer.isBlockLinearWeight(name), name)
        }
    }

    func testTransformerFolderEndToEnd() throws {
        let root = try makeTemporaryDirectory(self)
        let src = root.appendingPathComponent("src")
        let values = try buildTransformer(src)
        let source = try SafeTensorsCheckpoint(directory: src)
        for format in TernaryFormat.allCases {
            let dst = root.appendingPathComponent("out-\(format.rawValue)")
            var lines: [String] = []
            let report = try CheckpointQuantizer(format: format) { line, _ in lines.append(line) }.run(source: src, destination: dst)
            XCTAssertEqual(report.quantized.count, blockLinears.count)
            XCTAssertEqual(report.passThrough.count, layout().count - blockLinears.count)
            XCTAssertTrue(lines.contains { $0.hasPrefix("kept transformer_blocks.0.attn.norm_q.weight") })
            XCTAssertGreaterThan(report.sourceTransformerBytes, report.destinationTransformerBytes)
            XCTAssertEqual(try Data(contentsOf: dst.appendingPathComponent("config.json")),
                           try Data(contentsOf: src.appendingPathComponent("config.json")))
            XCTAssertEqual(try leftovers(in: root), [])

            let out = try SafeTensorsCheckpoint(directory: dst)
            XCTAssertEqual(out.metadata[TernaryCheckpointKeys.packing], format.rawValue)
            XCTAssertEqual(out.metadata["format"], "pt")
            // Everything that is not a block linear weight: same dtype, same bytes.
            for (name, _) in layout() where !CheckpointQuantizer.isBlockLinearWeight(name) {
                XCTAssertEqual(try out.info(name), try source.info(name), name)
                XCTAssertEqual(Array(try out.bytes(name)), Array(try source.bytes(name)), name)
            }
            // Block linears: U8 payload + F32 scale; dequantized = W_q·γ of the bf16 source.
            for (prefix, n, k) in blockLinears {
                let name = "\(prefix).weight"
                XCTAssertEqual(try out.info(name), TensorInfo(name: name, dtype: .u8, shape: [n, format.rowBytes(inFeatures: k)]))
                XCTAssertEqual(try out.info(name + "_scale"), TensorInfo(name: name + "_scale", dtype: .f32, shape: [n]))
                XCTAssertEqual(try out.shape(name), [n, k])
                let expected = try TernaryQuantizer.absmean(values[name]!, outFeatures: n, inFeatures: k)
                XCTAssertEqual(try out.tensor(name), Tensor(shape: [n, k], storage: expected.dequantized()), name)
                // The weight source hands out a TernaryLinear that computes with W_q·γ and the bf16 bias.
                let layer = try out.linear(prefix, mode: .f32)
                XCTAssertTrue(layer is TernaryLinear, prefix)
                let dense = DenseLinear(weight: expected.dequantized(), bias: values["\(prefix).bias"], inFeatures: k, outFeatures: n)
                var rng = SplitMix64(seed: 3)
                let x = Tensor(shape: [3, k], storage: (0..<(3 * k)).map { _ in rng.signed() })
                let (a, b) = (layer(x), dense(x))
                for i in 0..<a.count { XCTAssertEqual(a.storage[i], b.storage[i], accuracy: 1e-5, prefix) }
            }
        }
    }

    func testShardedSourceKeepsShardsAndRewritesIndex() throws {
        let root = try makeTemporaryDirectory(self)
        let src = root.appendingPathComponent("src")
        let values = try buildTransformer(src, shards: 3)
        let dst = root.appendingPathComponent("dst")
        _ = try CheckpointQuantizer(format: .t3).run(source: src, destination: dst)
        let names = try FileManager.default.contentsOfDirectory(atPath: dst.path).sorted()
        XCTAssertEqual(names, try FileManager.default.contentsOfDirectory(atPath: src.path).sorted())
        let out = try SafeTensorsCheckpoint(directory: dst)
        XCTAssertNotNil(out.indexURL)
        XCTAssertEqual(out.files.count, 3)
        let (prefix, n, k) = blockLinears[5]
        let expected = try TernaryQuantizer.absmean(values["\(prefix).weight"]!, outFeatures: n, inFeatures: k)
        XCTAssertEqual(try out.tensor("\(prefix).weight").storage, expected.dequantized())
        XCTAssertEqual(try out.floats("proj_out.bias"), values["proj_out.bias"])
        // The index lists every tensor including the new scales, in the shard that holds it, and the real total size.
        let index = try StrictJSONParser.parse(Array(try Data(contentsOf: out.indexURL!)))
        guard case let .object(top) = index, case let .object(map)? = top.first(where: { $0.key == "weight_map" })?.value,
              case let .object(meta)? = top.first(where: { $0.key == "metadata" })?.value else { return XCTFail("index layout") }
        XCTAssertEqual(map.count, layout().count + blockLinears.count)
        for (name, shard) in map {
            guard case let .string(file) = shard else { return XCTFail(name) }
            XCTAssertEqual(try out.file(containing: name).url.lastPathComponent, file)
        }
        let total = try out.tensorNames.reduce(0) { $0 + (try out.info($1).byteCount!) }
        XCTAssertEqual(meta.first { $0.key == "total_size" }?.value.nonNegativeInt, total)
    }

    func testPipelineFolderCopiesOtherComponents() throws {
        let root = try makeTemporaryDirectory(self)
        let src = root.appendingPathComponent("pipe")
        try buildTransformer(src.appendingPathComponent("transformer"))
        try FileManager.default.createDirectory(at: src.appendingPathComponent("vae"), withIntermediateDirectories: true)
        try Data(#"{"_class_name": "FluxPipeline"}"#.utf8).write(to: src.appendingPathComponent("model_index.json"))
        let vaeBytes = TensorInfo.encode([1, 2, 3], as: .f32)
        try SafeTensorsWriter.write(url: src.appendingPathComponent("vae/diffusion_pytorch_model.safetensors"),
                                    tensors: [(TensorInfo(name: "decoder.conv_in.weight", dtype: .f32, shape: [3]), vaeBytes)])
        try FileManager.default.createSymbolicLink(at: src.appendingPathComponent("vae/config.json"),
                                                   withDestinationURL: src.appendingPathComponent("model_index.json"))
        let dst = root.appendingPathComponent("pipe-ternary")
        let report = try CheckpointQuantizer(format: .i2).run(source: src, destination: dst)
        XCTAssertEqual(report.quantized.count, blockLinears.count)
        for file in ["model_index.json", "vae/diffusion_pytorch_model.safetensors", "vae/config.json", "transformer/config.json"] {
            XCTAssertEqual(try Data(contentsOf: dst.appendingPathComponent(file)), try Data(contentsOf: src.appendingPathComponent(file)), file)
        }
        // The link was followed: the copy is a regular file.
        XCTAssertNil(try? FileManager.default.destinationOfSymbolicLink(atPath: dst.appendingPathComponent("vae/config.json").path))
        XCTAssertTrue(try SafeTensorsCheckpoint(directory: dst.appendingPathComponent("transformer")).linear("transformer_blocks.0.attn.to_q", mode: .int8) is TernaryLinear)
        XCTAssertGreaterThan(report.destinationBytes, 0)
        XCTAssertGreaterThan(report.sourceBytes, report.destinationBytes)
    }

    func testExistingDestination() throws {
        let root = try makeTemporaryDirectory(self)
        let src = root.appendingPathComponent("src")
        try buildTransformer(src)
        let dst = root.appendingPathComponent("dst")
        try FileManager.default.createDirectory(at: dst, withIntermediateDirectories: false)
        try Data("keep".utf8).write(to: dst.appendingPathComponent("marker"))
        XCTAssertThrowsError(try CheckpointQuantizer(format: .i2).run(source: src, destination: dst)) { error in
            XCTAssertEqual(error as? QuantizeError, .destinationExists(path: dst.path))
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: dst.appendingPathComponent("marker").path))
        _ = try CheckpointQuantizer(format: .i2, force: true).run(source: src, destination: dst)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dst.appendingPathComponent("marker").path))
        XCTAssertNoThrow(try SafeTensorsCheckpoint(directory: dst))
        XCTAssertEqual(try leftovers(in: root), [])
        // Overlapping source and destination, and a missing parent folder.
        XCTAssertThrowsError(try CheckpointQuantizer(format: .i2, force: true).run(source: src, destination: src.appendingPathComponent("x")))
        XCTAssertThrowsError(try CheckpointQuantizer(format: .i2).run(source: src, destination: root.appendingPathComponent("a/b")))
        // Quantizing a ternary checkpoint again is refused.
        XCTAssertThrowsError(try CheckpointQuantizer(format: .i2).run(source: dst, destination: root.appendingPathComponent("again"))) { error in
            XCTAssertTrue("\(error)".contains("already a ternary checkpoint"), "\(error)")
        }
    }

    func testCorruptSourceLeavesNothingBehind() throws {
        let root = try makeTemporaryDirectory(self)
        let src = root.appendingPathComponent("src")
        try buildTransformer(src, shards: 2)
        let shard = src.appendingPathComponent("diffusion_pytorch_model-00002-of-00002.safetensors")
        let bytes = try Data(contentsOf: shard)
        try bytes.prefix(bytes.count - 10).write(to: shard)
        let dst = root.appendingPathComponent("dst")
        XCTAssertThrowsError(try CheckpointQuantizer(format: .i2).run(source: src, destination: dst)) { error in
            XCTAssertTrue("\(error)".contains(shard.path) && "\(error)".contains("truncated"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dst.path))
        XCTAssertEqual(try leftovers(in: root), [])
        // Not a model folder at all.
        XCTAssertThrowsError(try CheckpointQuantizer(format: .i2).run(source: root.appendingPathComponent("nothing"), destination: dst))
    }

    /// Failures discovered while writing (after earlier shards were written) also leave nothing behind.
    func testFailureMidwayLeavesNothingBehind() throws {
        let root = try makeTemporaryDirectory(self)
        // A block linear with a 3-D shape.
        let src = root.appendingPathComponent("bad-shape")
        try buildTransformer(src)
        try SafeTensorsWriter.write(url: src.appendingPathComponent("extra.safetensors"), tensors: [
            (TensorInfo(name: "single_transformer_blocks.1.proj_mlp.weight", dtype: .f32, shape: [2, 2, 2]), TensorInfo.encode([Float](repeating: 1, count: 8), as: .f32)),
        ])
        let dst = root.appendingPathComponent("dst")
        XCTAssertThrowsError(try CheckpointQuantizer(format: .i2).run(source: src, destination: dst)) { error in
            XCTAssertEqual(error as? QuantizeError, .notALinear(file: src.appendingPathComponent("extra.safetensors").path,
                                                                tensor: "single_transformer_blocks.1.proj_mlp.weight", detail: "shape [2, 2, 2] is not [out, in]"))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dst.path))
        XCTAssertEqual(try leftovers(in: root), [])

        // A NaN inside a block linear of the last shard.
        let nan = root.appendingPathComponent("nan")
        try buildTransformer(nan)
        try SafeTensorsWriter.write(url: nan.appendingPathComponent("zz.safetensors"), tensors: [
            (TensorInfo(name: "single_transformer_blocks.1.proj_mlp.weight", dtype: .f16, shape: [2, 2]), TensorInfo.encode([1, .nan, 0, 1], as: .f16)),
        ])
        XCTAssertThrowsError(try CheckpointQuantizer(format: .t3).run(source: nan, destination: dst)) { error in
            XCTAssertTrue("\(error)".contains("single_transformer_blocks.1.proj_mlp.weight") && "\(error)".contains("NaN"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dst.path))
        XCTAssertEqual(try leftovers(in: root), [])
    }

    /// The committed diffusers pipeline (saved by diffusers itself): the selection rule finds exactly its 40 block
    /// nn.Linear weights (Tests/Fixtures/README.md), i.e. every 2-D tensor inside the blocks, and nothing else.
    func testDiffusersTinyFluxPipeline() throws {
        let root = try makeTemporaryDirectory(self)
        let src = fixturesDirectory.appendingPathComponent("tiny-flux")
        let dst = root.appendingPathComponent("tiny-flux-t3")
        let report = try CheckpointQuantizer(format: .t3).run(source: src, destination: dst)
        XCTAssertEqual(report.quantized.count, 40)
        let source = try SafeTensorsCheckpoint(directory: src.appendingPathComponent("transformer"))
        var blockMatrices = Set<String>()
        for name in source.tensorNames where name.hasPrefix("transformer_blocks.") || name.hasPrefix("single_transformer_blocks.") {
            if try source.info(name).shape.count == 2 { blockMatrices.insert(name) }
        }
        XCTAssertEqual(Set(report.quantized), blockMatrices)
        let out = try SafeTensorsCheckpoint(directory: dst.appendingPathComponent("transformer"))
        for name in report.quantized {
            let shape = try source.info(name).shape
            let expected = try TernaryQuantizer.absmean(try source.floats(name), outFeatures: shape[0], inFeatures: shape[1])
            XCTAssertEqual(try out.tensor(name).storage, expected.dequantized(), name)
        }
        for component in ["vae", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2", "scheduler"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dst.appendingPathComponent(component).path), component)
        }
    }
}
