import CTernaryKernels
import Foundation
import XCTest
@testable import TernaryTensors

final class SafeTensorsReadWriteTests: XCTestCase {
    func testRoundTripEveryDType() throws {
        let dir = try makeTemporaryDirectory(self)
        let url = dir.appendingPathComponent("all.safetensors")
        let floats: [Float] = [0, -0.5, 1.5, 3.25, -1024, 0.0078125]
        let i8: [Int8] = [-128, -1, 0, 1, 127, 5]
        let u8: [UInt8] = [0, 1, 128, 255]
        let i32: [Int32] = [Int32.min, -7, 0, 9, Int32.max]
        let i64: [Int64] = [Int64.min, -3, 0, 4, Int64.max]
        let tensors: [(info: TensorInfo, data: [UInt8])] = [
            (TensorInfo(name: "f32", dtype: .f32, shape: [2, 3]), TensorInfo.encode(floats, as: .f32)),
            (TensorInfo(name: "f16", dtype: .f16, shape: [3, 2]), TensorInfo.encode(floats, as: .f16)),
            (TensorInfo(name: "bf16", dtype: .bf16, shape: [6]), TensorInfo.encode(floats, as: .bf16)),
            (TensorInfo(name: "i8", dtype: .i8, shape: [6]), i8.withUnsafeBytes { Array($0) }),
            (TensorInfo(name: "u8", dtype: .u8, shape: [2, 2]), u8),
            (TensorInfo(name: "i32", dtype: .i32, shape: [5]), i32.withUnsafeBytes { Array($0) }),
            (TensorInfo(name: "i64", dtype: .i64, shape: [5, 1]), i64.withUnsafeBytes { Array($0) }),
            (TensorInfo(name: "scalar", dtype: .f32, shape: []), TensorInfo.encode([42], as: .f32)),
            (TensorInfo(name: "empty", dtype: .f16, shape: [0, 4]), []),
        ]
        let metadata = ["format": "pt", "odd \"key\"\n": "välue\t\\ with \u{1} control"]
        try SafeTensorsWriter.write(url: url, tensors: tensors, metadata: metadata)

        let raw = try Data(contentsOf: url)
        let headerLength = raw.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        XCTAssertEqual((8 + headerLength) % 8, 0, "data region must start 8-byte aligned")

        let file = try SafeTensorsFile(url: url)
        XCTAssertEqual(file.metadata, metadata)
        XCTAssertEqual(file.tensorNames, tensors.map(\.info.name))
        for t in tensors {
            XCTAssertEqual(try file.info(t.info.name), t.info)
            XCTAssertEqual(Array(try file.bytes(t.info.name)), t.data, t.info.name)
        }
        XCTAssertEqual(try file.floats("f32"), floats)
        XCTAssertEqual(try file.floats("f16"), floats)
        XCTAssertEqual(try file.floats("bf16"), floats)
        XCTAssertEqual(try file.floats("scalar"), [42])
        XCTAssertEqual(try file.floats("empty"), [])
        XCTAssertEqual(try file.integers("i8"), i8.map(Int.init))
        XCTAssertEqual(try file.integers("u8"), u8.map(Int.init))
        XCTAssertEqual(try file.integers("i32"), i32.map(Int.init))
        XCTAssertEqual(try file.integers("i64"), i64.map(Int.init))
        XCTAssertEqual(try file.tensor("f16").shape, [3, 2])
        XCTAssertThrowsError(try file.floats("i32")) { error in
            XCTAssertEqual(error as? SafeTensorsError, .wrongDType(file: url.path, tensor: "i32", dtype: .i32, expected: "F32, F16 or BF16"))
        }
        XCTAssertThrowsError(try file.floats("nope")) { error in
            XCTAssertEqual(error as? SafeTensorsError, .missingTensor(file: url.path, tensor: "nope"))
            XCTAssertTrue("\(error)".contains(url.path) && "\(error)".contains("nope"))
        }
    }

    func testStreamingWriterAcceptsChunksAndChecksCompleteness() throws {
        let dir = try makeTemporaryDirectory(self)
        let url = dir.appendingPathComponent("chunks.safetensors")
        let values = (0..<1000).map { Float($0) * 0.25 }
        let w = try SafeTensorsWriter(url: url, tensors: [TensorInfo(name: "a", dtype: .f32, shape: [1000]),
                                                          TensorInfo(name: "b", dtype: .u8, shape: [3])])
        try values.withUnsafeBytes { all in
            var offset = 0
            for size in [1, 7, 400, 2000, 1592] {
                try w.append(UnsafeRawBufferPointer(rebasing: all[offset..<(offset + size)]))
                offset += size
            }
        }
        XCTAssertEqual(w.nextTensor, "b")
        XCTAssertThrowsError(try w.finish())
        XCTAssertThrowsError(try w.write("b", data: [1, 2]))
        try w.write("b", data: [1, 2, 3])
        try w.finish()
        let file = try SafeTensorsFile(url: url)
        XCTAssertEqual(try file.floats("a"), values)
        XCTAssertEqual(try file.data("b"), [1, 2, 3])
    }

    func testWriterRejectsDuplicateAndReservedNames() throws {
        XCTAssertThrowsError(try SafeTensorsWriter.header(tensors: [TensorInfo(name: "x", dtype: .u8, shape: [1]),
                                                                   TensorInfo(name: "x", dtype: .u8, shape: [1])], metadata: [:]))
        XCTAssertThrowsError(try SafeTensorsWriter.header(tensors: [TensorInfo(name: "__metadata__", dtype: .u8, shape: [1])], metadata: [:]))
    }

    /// Readers must accept unpadded headers and unaligned data (files from other writers).
    func testReadsUnalignedData() throws {
        let values: [Float] = [1, -2, 3.5]
        let header = #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"F32","shape":[3],"data_offsets":[1,13]},"c":{"dtype":"F16","shape":[3],"data_offsets":[13,19]}}"#
        let bytes = craftSafeTensors(header: header, data: [7] + TensorInfo.encode(values, as: .f32) + TensorInfo.encode(values, as: .f16))
        let file = try parseSafeTensors(bytes)
        XCTAssertEqual(try file.floats("b"), values)
        XCTAssertEqual(try file.floats("c"), values)
        XCTAssertEqual(file.metadata, [:])
    }

    func testHalfConversionsMatchSwiftFloat16() {
        var bits = (0...UInt16.max).map { $0 }
        var converted = [Float](repeating: 0, count: bits.count)
        tf_f16_to_f32(&bits, &converted, bits.count)
        for (b, f) in zip(bits, converted) {
            let expected = Float(Float16(bitPattern: b))
            if expected.isNaN { XCTAssertTrue(f.isNaN) } else { XCTAssertEqual(f.bitPattern, expected.bitPattern, "half 0x\(String(b, radix: 16))") }
        }
        var bf = [Float](repeating: 0, count: bits.count)
        tf_bf16_to_f32(&bits, &bf, bits.count)
        for (b, f) in zip(bits, bf) { XCTAssertEqual(f.bitPattern, UInt32(b) << 16) }

        // fp32 → half: every half value, the midpoints between neighbours (ties to even) and random values.
        var rng = SplitMix64(seed: 7)
        var samples: [Float] = converted.filter { !$0.isNaN }
        for b in 0..<UInt16(0x7bff) {
            let lo = Float(Float16(bitPattern: b)), hi = Float(Float16(bitPattern: b + 1))
            samples.append((lo + hi) / 2)
        }
        for _ in 0..<20000 { samples.append(rng.signed() * Float(1 << (rng.below(40))) / 65536) }
        samples += [70000, -65520, 65519, .infinity, -.infinity, 1e-9, -6e-8]
        let half = TensorInfo.encode(samples, as: .f16)
        let bf16 = TensorInfo.encode(samples, as: .bf16)
        for (i, x) in samples.enumerated() {
            let h = UInt16(half[2 * i]) | UInt16(half[2 * i + 1]) << 8
            XCTAssertEqual(h, Float16(x).bitPattern, "f32→f16 of \(x)")
            let b = UInt16(bf16[2 * i]) | UInt16(bf16[2 * i + 1]) << 8
            // bf16 reference: round to nearest even on the top 16 bits.
            let u = x.bitPattern
            let expected = UInt16(truncatingIfNeeded: (u &+ 0x7fff &+ ((u >> 16) & 1)) >> 16)
            XCTAssertEqual(b, expected, "f32→bf16 of \(x)")
        }
        let nan = TensorInfo.encode([.nan], as: .bf16)
        XCTAssertTrue(Float(bitPattern: UInt32(UInt16(nan[0]) | UInt16(nan[1]) << 8) << 16).isNaN)
    }
}
