import Foundation
import XCTest
@testable import TernaryTensors

/// SlicedTensor plans and the writer that copies them: rows, swapped halves, reshapes, and the checks.
final class SlicedTensorWriterTests: XCTestCase {
    private func source() throws -> (URL, SafeTensorsFile) {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sliced-\(UUID().uuidString).safetensors")
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        let fused = (0..<12).map(Float.init)          // [6, 2]: rows 0…5
        try SafeTensorsWriter.write(url: url, tensors: [
            (TensorInfo(name: "fused", dtype: .f32, shape: [6, 2]), TensorInfo.encode(fused, as: .f32)),
            (TensorInfo(name: "conv", dtype: .bf16, shape: [2, 2, 1, 1]), TensorInfo.encode([1, 2, 3, 4], as: .bf16)),
        ])
        return (url, try SafeTensorsFile(url: url))
    }

    func testRowsHalvesAndReshapesCopyTheRightBytes() throws {
        let (_, file) = try source()
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("sliced-out-\(UUID().uuidString).safetensors")
        addTeardownBlock { try? FileManager.default.removeItem(at: out) }
        try SlicedTensorWriter.write(url: out, tensors: [
            try SlicedTensor.rows(2..<5, of: "fused", in: file, as: "middle"),
            try SlicedTensor.halvesSwapped("fused", of: file, as: "swapped"),
            try SlicedTensor.whole("conv", of: file, as: "linear", shape: [2, 2]),
        ], metadata: ["format": "pt"])
        let written = try SafeTensorsFile(url: out)
        XCTAssertEqual(written.metadata, ["format": "pt"])
        XCTAssertEqual(try written.info("middle").shape, [3, 2])
        XCTAssertEqual(try written.floats("middle"), [4, 5, 6, 7, 8, 9])
        XCTAssertEqual(try written.floats("swapped"), [6, 7, 8, 9, 10, 11, 0, 1, 2, 3, 4, 5])
        XCTAssertEqual(try written.info("linear"), TensorInfo(name: "linear", dtype: .bf16, shape: [2, 2]))
        XCTAssertEqual(try written.floats("linear"), [1, 2, 3, 4])
    }

    func testPlansThatDoNotFitAreRefused() throws {
        let (_, file) = try source()
        XCTAssertThrowsError(try SlicedTensor.rows(4..<7, of: "fused", in: file, as: "x")) {
            XCTAssertTrue("\($0)".contains("rows 4..<7 do not exist in shape [6, 2]"), "\($0)")
        }
        XCTAssertThrowsError(try SlicedTensor(info: TensorInfo(name: "x", dtype: .f32, shape: [2]),
                                              pieces: [.init(file: file, tensor: "fused", bytes: 40..<52)])) {
            XCTAssertTrue("\($0)".contains("lie outside its 48 bytes"), "\($0)")
        }
        XCTAssertThrowsError(try SlicedTensor(info: TensorInfo(name: "x", dtype: .f16, shape: [2]),
                                              pieces: [.init(file: file, tensor: "fused", bytes: 0..<4)])) {
            XCTAssertTrue("\($0)".contains("dtype F32 cannot be copied into F16 tensor 'x'"), "\($0)")
        }
        XCTAssertThrowsError(try SlicedTensor(info: TensorInfo(name: "x", dtype: .f32, shape: [2]),
                                              pieces: [.init(file: file, tensor: "fused", bytes: 0..<4)])) {
            XCTAssertTrue("\($0)".contains("pieces hold 4 bytes but shape [2] of F32 needs 8"), "\($0)")
        }
        XCTAssertThrowsError(try SlicedTensor.whole("nope", of: file, as: "x"))
    }
}
