import CCUDA
import CTernaryKernels
import Foundation
import XCTest

/// The CUDA backend's CPU side: the reference of the GPU kernels' arithmetic gives the CPU int8 GEMM's bits,
/// the embedded fatbin is there, and without a driver every entry point says so. On a machine with an NVIDIA
/// driver and device, the kernels themselves are compared with the reference here too.
final class CUDABackendTests: XCTestCase {
    struct Case { let m: Int; let k: Int; let n: Int; let bias: Bool }
    let cases = [Case(m: 1, k: 32, n: 8, bias: false), Case(m: 17, k: 200, n: 13, bias: true), Case(m: 64, k: 3072, n: 24, bias: true),
                 Case(m: 5, k: 129, n: 40, bias: false)]

    /// Random activations (one row all zero, one with a huge value), ternary weights packed as TF_FORMAT_I2, scales.
    func operands(_ c: Case, seed: UInt64) -> (x: [Float], w: [UInt8], scale: [Float], bias: [Float]?) {
        var state = seed
        func next() -> UInt64 { state = state &* 6364136223846793005 &+ 1442695040888963407; return state >> 11 }
        func uniform() -> Float { Float(next() % 1_000_000) / 500_000 - 1 }
        var x = (0..<(c.m * c.k)).map { _ in uniform() * 3 }
        if c.m > 2 { for k in 0..<c.k { x[c.k + k] = 0 } ; x[2 * c.k] = 1e6 }
        let q = (0..<(c.n * c.k)).map { _ in Int8(Int(next() % 3) - 1) }
        var w = [UInt8](repeating: 0, count: c.n * tf_packed_row_bytes(TF_FORMAT_I2, Int64(c.k)))
        XCTAssertEqual(tf_pack(TF_FORMAT_I2, q, Int64(c.n), Int64(c.k), &w), 0)
        let scale = (0..<c.n).map { _ in abs(uniform()) * 0.1 + 0.01 }
        return (x, w, scale, c.bias ? (0..<c.n).map { _ in uniform() } : nil)
    }

    func reference(_ c: Case, _ o: (x: [Float], w: [UInt8], scale: [Float], bias: [Float]?)) -> [Float] {
        let kp = (c.k + 127) / 128 * 128
        var xq = [Int8](repeating: 0, count: c.m * kp), inv = [Float](repeating: 0, count: c.m)
        tf_cuda_reference_quantize_rows(o.x, Int64(c.m), Int64(c.k), Int64(kp), &xq, &inv)
        var y = [Float](repeating: .nan, count: c.m * c.n)
        tf_cuda_reference_w2a8_gemm(xq, inv, Int64(c.m), Int64(kp), o.w, o.scale, o.bias, Int64(c.n), &y)
        return y
    }

    func testTheReferenceOfTheGPUArithmeticGivesTheCPUInt8GEMMsBits() {
        for (i, c) in cases.enumerated() {
            let o = operands(c, seed: UInt64(i + 1))
            var cpu = [Float](repeating: .nan, count: c.m * c.n)
            XCTAssertEqual(tf_ternary_gemm(TF_ACT_INT8, TF_FORMAT_I2, o.x, Int64(c.m), Int64(c.k), o.w, o.scale, o.bias, Int64(c.n), &cpu, 1), 0)
            let ref = reference(c, o)
            XCTAssertEqual(ref.map(\.bitPattern), cpu.map(\.bitPattern), "M=\(c.m) K=\(c.k) N=\(c.n): the reference differs from the CPU int8 GEMM")
        }
    }

    func testTheFatbinIsEmbeddedWithEveryKernelTheHostLaunches() {
        var size = 0
        let fatbin = tf_cuda_fatbin(&size)!
        XCTAssertGreaterThan(size, 10_000)
        // The fatbin container's magic, 0xBA55ED50, little-endian.
        XCTAssertEqual((0..<4).map { fatbin[$0] }, [0x50, 0xED, 0x55, 0xBA])
        // The kernels cuda_linear.c asks cuModuleGetFunction for (names are plain text in the uncompressed ELF images).
        let bytes = Data(bytes: fatbin, count: size)
        for name in ["tf_w2a8_quantize_rows", "tf_w2a8_gemm", "tf_w2a8_gemm_tiled"] {
            XCTAssertNotNil(bytes.range(of: Data(name.utf8)), "the fatbin has no \(name)")
        }
    }

    /// The host launches tf_w2a8_gemm_tiled with the tile and block sizes the kernel was written for.
    func testTheHostsLaunchShapeIsTheTiledKernels() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let layout = try String(contentsOf: root.appendingPathComponent("kernels/cuda/w2a8_tiled_layout.cuh"), encoding: .utf8)
        func define(_ name: String) -> Int? {
            for line in layout.split(separator: "\n") {
                let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
                if words.count >= 3, words[0] == "#define", words[1] == name { return Int(words[2]) }
            }
            return nil
        }
        XCTAssertEqual(define("TF_TILED_BM"), Int(TF_CUDA_TILED_BM))
        XCTAssertEqual(define("TF_TILED_BN"), Int(TF_CUDA_TILED_BN))
        XCTAssertEqual(define("TF_TILED_THREADS"), Int(TF_CUDA_TILED_THREADS))
    }

    /// No driver here: every entry point answers TF_CUDA_ENODRIVER naming libcuda.so.1. With one, the kernels
    /// must give the reference's bits.
    func testWithoutADriverEveryEntryPointSaysSoAndWithOneTheKernelsMatch() throws {
        var info = tf_cuda_device_info()
        var message = [CChar](repeating: 0, count: 512)
        let status = tf_cuda_probe(0, &info, &message, message.count)
        let text = String(cString: message)
        if status == TF_CUDA_ENODRIVER {
            XCTAssertTrue(text.contains("libcuda.so.1"), text)
            XCTAssertEqual(tf_cuda_device_count(&message, message.count), 0)
            var y = [Float](repeating: 0, count: 8)
            XCTAssertEqual(tf_cuda_w2a8_gemm(0, [Float](repeating: 1, count: 32), 1, 32, [UInt8](repeating: 0x55, count: 64), [Float](repeating: 1, count: 8),
                                             nil, 8, &y, &message, message.count), TF_CUDA_ENODRIVER)
            var layer: OpaquePointer?
            XCTAssertEqual(tf_cuda_linear_create(0, [UInt8](repeating: 0x55, count: 256), 8, 32, [Float](repeating: 1, count: 8), nil, &layer,
                                                 &message, message.count), TF_CUDA_ENODRIVER)
            XCTAssertNil(layer)
            XCTAssertTrue(String(cString: message).contains("libcuda.so.1"))
            var free = 0, total = 0
            XCTAssertEqual(tf_cuda_memory_info(0, &free, &total, &message, message.count), TF_CUDA_ENODRIVER)
            return
        }
        try XCTSkipIf(status != TF_CUDA_OK, "a driver without a usable device: \(text)")
        for kernel in ["tiled", "simple"] {
            setenv("TERNFLUX_CUDA_GEMM", kernel, 1)
            defer { unsetenv("TERNFLUX_CUDA_GEMM") }
            for (i, c) in cases.enumerated() {
                let o = operands(c, seed: UInt64(100 + i))
                var gpu = [Float](repeating: .nan, count: c.m * c.n)
                XCTAssertEqual(tf_cuda_w2a8_gemm(0, o.x, Int64(c.m), Int64(c.k), o.w, o.scale, o.bias, Int64(c.n), &gpu, &message, message.count),
                               TF_CUDA_OK, String(cString: message))
                XCTAssertEqual(gpu.map(\.bitPattern), reference(c, o).map(\.bitPattern), "\(kernel): M=\(c.m) K=\(c.k) N=\(c.n)")
            }
        }
    }
}
