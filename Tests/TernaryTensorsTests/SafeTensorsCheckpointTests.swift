import Foundation
import XCTest
@testable import TernaryTensors

final class SafeTensorsCheckpointTests: XCTestCase {
    private func writeShard(_ url: URL, _ tensors: [(String, [Int], [Float])], dtype: DType = .f32) throws {
        try SafeTensorsWriter.write(url: url, tensors: tensors.map {
            (TensorInfo(name: $0.0, dtype: dtype, shape: $0.1), TensorInfo.encode($0.2, as: dtype))
        }, metadata: ["format": "pt"])
    }

    private func writeIndex(_ url: URL, _ map: [String: String]) throws {
        let body = map.keys.sorted().map { "\"\($0)\": \"\(map[$0]!)\"" }.joined(separator: ", ")
        try Data("{\"metadata\": {\"total_size\": 0}, \"weight_map\": {\(body)}}".utf8).write(to: url)
    }

    func testShardedIndex() throws {
        let dir = try makeTemporaryDirectory(self)
        try writeShard(dir.appendingPathComponent("model-00001-of-00002.safetensors"),
                       [("a.weight", [2, 3], [1, 2, 3, 4, 5, 6]), ("a.bias", [2], [0.5, -0.5])], dtype: .bf16)
        try writeShard(dir.appendingPathComponent("model-00002-of-00002.safetensors"), [("b", [1], [7])])
        try writeIndex(dir.appendingPathComponent("model.safetensors.index.json"),
                       ["a.weight": "model-00001-of-00002.safetensors", "a.bias": "model-00001-of-00002.safetensors",
                        "b": "model-00002-of-00002.safetensors"])
        let ckpt = try SafeTensorsCheckpoint(directory: dir)
        XCTAssertNotNil(ckpt.indexURL)
        XCTAssertEqual(ckpt.files.count, 2)
        XCTAssertEqual(Set(ckpt.tensorNames), ["a.weight", "a.bias", "b"])
        XCTAssertTrue(ckpt.contains("b"))
        XCTAssertFalse(ckpt.contains("c"))
        XCTAssertEqual(try ckpt.floats("b"), [7])
        XCTAssertEqual(try ckpt.shape("a.weight"), [2, 3])
        XCTAssertEqual(try ckpt.tensor("a.weight"), Tensor(shape: [2, 3], storage: [1, 2, 3, 4, 5, 6]))
        XCTAssertEqual(ckpt.metadata["format"], "pt")

        // The weight source's dense linear: y = x·Wᵀ + b.
        let layer = try ckpt.linear("a", mode: .f32)
        XCTAssertTrue(layer is DenseLinear)
        let y = layer(Tensor(shape: [1, 3], storage: [1, 0, -1]))
        XCTAssertEqual(y.storage, [1 - 3 + 0.5, 4 - 6 - 0.5])

        XCTAssertThrowsError(try ckpt.tensor("missing")) { error in
            XCTAssertTrue("\(error)".contains("missing") && "\(error)".contains("index.json"), "\(error)")
        }
        XCTAssertThrowsError(try ckpt.linear("b", mode: .f32)) // no b.weight
    }

    func testIndexErrors() throws {
        let dir = try makeTemporaryDirectory(self)
        try writeShard(dir.appendingPathComponent("s1.safetensors"), [("x", [1], [1])])
        let index = dir.appendingPathComponent("m.safetensors.index.json")

        try writeIndex(index, ["y": "s1.safetensors"])
        XCTAssertThrowsError(try SafeTensorsCheckpoint(directory: dir)) { error in
            XCTAssertEqual(error as? SafeTensorsError, .missingTensor(file: dir.appendingPathComponent("s1.safetensors").path, tensor: "y"))
        }
        try writeIndex(index, ["x": "absent.safetensors"])
        XCTAssertThrowsError(try SafeTensorsCheckpoint(directory: dir)) { error in
            guard case .cannotOpen = error as? SafeTensorsError else { return XCTFail("\(error)") }
        }
        try writeIndex(index, ["x": "../s1.safetensors"])
        XCTAssertThrowsError(try SafeTensorsCheckpoint(directory: dir)) { error in
            guard case .invalidIndex = error as? SafeTensorsError else { return XCTFail("\(error)") }
        }
        try Data("{\"weight_map\": [1]}".utf8).write(to: index)
        XCTAssertThrowsError(try SafeTensorsCheckpoint(directory: dir)) { error in
            guard case .invalidIndex(let f, _) = error as? SafeTensorsError else { return XCTFail("\(error)") }
            XCTAssertEqual(f, index.path)
        }
        try Data("{\"weight_map\": {\"x\": \"s1.safetensors\",".utf8).write(to: index)
        XCTAssertThrowsError(try SafeTensorsCheckpoint(directory: dir))
    }

    func testFolderWithoutIndex() throws {
        let dir = try makeTemporaryDirectory(self)
        XCTAssertThrowsError(try SafeTensorsCheckpoint(directory: dir)) // no files
        try writeShard(dir.appendingPathComponent("a.safetensors"), [("x", [1], [1])])
        try writeShard(dir.appendingPathComponent("b.safetensors"), [("y", [2], [2, 3])], dtype: .f16)
        let ckpt = try SafeTensorsCheckpoint(directory: dir)
        XCTAssertEqual(ckpt.tensorNames, ["x", "y"])
        XCTAssertEqual(try ckpt.floats("y"), [2, 3])
        // A single file opens directly too.
        XCTAssertEqual(try SafeTensorsCheckpoint(directory: dir.appendingPathComponent("b.safetensors")).tensorNames, ["y"])
        // The same name in two files is ambiguous.
        try writeShard(dir.appendingPathComponent("c.safetensors"), [("x", [1], [5])])
        XCTAssertThrowsError(try SafeTensorsCheckpoint(directory: dir)) { error in
            guard case let .duplicateTensor(_, t) = error as? SafeTensorsError else { return XCTFail("\(error)") }
            XCTAssertEqual(t, "x")
        }
    }

    func testLinearShapeErrors() throws {
        let dir = try makeTemporaryDirectory(self)
        try writeShard(dir.appendingPathComponent("m.safetensors"),
                       [("v.weight", [4], [1, 2, 3, 4]), ("l.weight", [2, 2], [1, 0, 0, 1]), ("l.bias", [3], [0, 0, 0])])
        let ckpt = try SafeTensorsCheckpoint(directory: dir)
        XCTAssertThrowsError(try ckpt.linear("v", mode: .f32)) { error in
            XCTAssertTrue("\(error)".contains("v.weight"), "\(error)")
        }
        XCTAssertThrowsError(try ckpt.linear("l", mode: .f32)) { error in
            XCTAssertTrue("\(error)".contains("l.bias"), "\(error)")
        }
    }
}
