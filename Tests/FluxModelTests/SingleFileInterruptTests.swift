import Foundation
import TernaryTensors
import XCTest

/// An interrupted `convert` (SIGINT, SIGTERM) removes its temporary folder: neither a partial DST nor a
/// `DST.partial-*` folder is left. The source is a sparse 1.09 GB BFL file at FLUX.1's widths (1 double, 1
/// single block), so the copy runs long enough to be interrupted while costing no disk of its own.
final class SingleFileInterruptTests: XCTestCase {
    /// BFL tensor infos at FLUX.1's widths, in the order of `ops/bench/bfl_large.py`.
    private func flux1Tensors(double: Int, single: Int) -> [TensorInfo] {
        let d = 3072, head = 128, mlp = 4 * 3072
        var t: [TensorInfo] = []
        func linear(_ name: String, _ nIn: Int, _ nOut: Int) {
            t.append(TensorInfo(name: name + ".weight", dtype: .bf16, shape: [nOut, nIn]))
            t.append(TensorInfo(name: name + ".bias", dtype: .bf16, shape: [nOut]))
        }
        linear("img_in", 64, d)
        for (e, nIn) in [("time_in", 256), ("guidance_in", 256), ("vector_in", 768)] {
            linear(e + ".in_layer", nIn, d)
            linear(e + ".out_layer", d, d)
        }
        linear("txt_in", 4096, d)
        for i in 0..<double {
            for s in ["img", "txt"] {
                let b = "double_blocks.\(i).\(s)"
                linear(b + "_mod.lin", d, 6 * d)
                linear(b + "_attn.qkv", d, 3 * d)
                t.append(TensorInfo(name: b + "_attn.norm.query_norm.scale", dtype: .bf16, shape: [head]))
                t.append(TensorInfo(name: b + "_attn.norm.key_norm.scale", dtype: .bf16, shape: [head]))
                linear(b + "_attn.proj", d, d)
                linear(b + "_mlp.0", d, mlp)
                linear(b + "_mlp.2", mlp, d)
            }
        }
        for i in 0..<single {
            let b = "single_blocks.\(i)"
            linear(b + ".linear1", d, 3 * d + mlp)
            linear(b + ".linear2", d + mlp, d)
            t.append(TensorInfo(name: b + ".norm.query_norm.scale", dtype: .bf16, shape: [head]))
            t.append(TensorInfo(name: b + ".norm.key_norm.scale", dtype: .bf16, shape: [head]))
            linear(b + ".modulation.lin", d, 3 * d)
        }
        linear("final_layer.linear", d, 64)
        linear("final_layer.adaLN_modulation.1", d, 2 * d)
        return t
    }

    private func interrupt(_ signo: Int32, expecting status: Int32) throws {
        guard FileManager.default.isExecutableFile(atPath: BFLFixtures.binary.path) else { throw XCTSkip("ternflux is not built") }
        let scratch = try makeScratchFolder(self)
        let src = scratch.appendingPathComponent("sparse.safetensors")
        let infos = flux1Tensors(double: 1, single: 1)
        let header = try SafeTensorsWriter.header(tensors: infos, metadata: [:])
        try Data(header).write(to: src)
        let handle = try FileHandle(forWritingTo: src)
        try handle.truncate(atOffset: UInt64(header.count + infos.reduce(0) { $0 + $1.byteCount! }))
        try handle.close()
        let dst = scratch.appendingPathComponent("out")

        let process = Process()
        process.executableURL = BFLFixtures.binary
        process.arguments = ["convert", src.path, dst.path]
        process.standardOutput = FileHandle.nullDevice
        let err = Pipe()
        process.standardError = err
        try process.run()
        // Wait for the temporary folder, then interrupt.
        let deadline = Date().addingTimeInterval(20)
        var sawPartial = false
        while Date() < deadline && process.isRunning {
            if try FileManager.default.contentsOfDirectory(atPath: scratch.path).contains(where: { $0.hasPrefix("out.partial-") }) {
                sawPartial = true
                break
            }
            usleep(5_000)
        }
        guard sawPartial else {
            process.waitUntilExit()
            throw XCTSkip("the conversion finished before it could be interrupted")
        }
        usleep(50_000)
        kill(process.processIdentifier, signo)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        if process.terminationStatus == 0 { throw XCTSkip("the conversion finished before the signal arrived") }
        XCTAssertEqual(process.terminationStatus, status, stderr)
        XCTAssertTrue(stderr.contains("interrupted; removed the temporary folders"), stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch.path), ["sparse.safetensors"])
    }

    func testSIGINTRemovesTheTemporaryFolder() throws {
        try interrupt(SIGINT, expecting: 130)
    }

    func testSIGTERMRemovesTheTemporaryFolder() throws {
        try interrupt(SIGTERM, expecting: 143)
    }
}
