import Foundation
@testable import TernaryTensors
import XCTest

/// `--device` / TERNFLUX_DEVICE: the forms accepted and refused, and what each resolves to on this machine.
/// Without an NVIDIA driver (CI), `auto` is the CPU and `cuda` an error naming libcuda.so.1; with one, both are
/// the GPU.
final class DeviceChoiceTests: XCTestCase {
    func testTheFormsAcceptedAndRefused() throws {
        XCTAssertEqual(try DeviceChoice(parsing: "cpu"), .cpu)
        XCTAssertEqual(try DeviceChoice(parsing: "auto"), .auto)
        XCTAssertEqual(try DeviceChoice(parsing: "cuda"), .cuda(0))
        XCTAssertEqual(try DeviceChoice(parsing: "cuda:0"), .cuda(0))
        XCTAssertEqual(try DeviceChoice(parsing: "cuda:7"), .cuda(7))
        for bad in ["", "gpu", "CUDA", "cuda:", "cuda:-1", "cuda:x", "cuda:1:2", "cuda:64", "cuda:٣", " cpu", "cuda:99999999999999999999"] {
            XCTAssertThrowsError(try DeviceChoice(parsing: bad, source: "--device"), bad) { error in
                XCTAssertEqual("\(error)", "--device '\(bad)' is not a device: use cpu, cuda, cuda:N or auto")
            }
        }
    }

    func testTheOptionWinsOverTheEnvironmentWhichWinsOverAuto() throws {
        XCTAssertEqual(try DeviceChoice(option: "cpu", environment: ["TERNFLUX_DEVICE": "cuda:1"]), .cpu)
        XCTAssertEqual(try DeviceChoice(option: nil, environment: ["TERNFLUX_DEVICE": "cuda:1"]), .cuda(1))
        XCTAssertEqual(try DeviceChoice(option: nil, environment: ["TERNFLUX_DEVICE": ""]), .auto)
        XCTAssertEqual(try DeviceChoice(option: nil, environment: [:]), .auto)
        XCTAssertEqual(try DeviceChoice(option: nil, environment: ["TERNFLUX_DEVICE": ""], fallback: .cpu), .cpu)
        XCTAssertEqual(try DeviceChoice(option: nil, environment: ["TERNFLUX_DEVICE": "auto"], fallback: .cpu), .auto)
        XCTAssertThrowsError(try DeviceChoice(option: nil, environment: ["TERNFLUX_DEVICE": "tpu"])) { error in
            XCTAssertEqual("\(error)", "TERNFLUX_DEVICE 'tpu' is not a device: use cpu, cuda, cuda:N or auto")
        }
    }

    func testResolvingOnThisMachine() throws {
        XCTAssertEqual(try DeviceChoice.cpu.resolve().device, .cpu)
        if let device = try? CUDADevice.probe(0) {
            // A machine with a usable GPU: auto and cuda are it.
            XCTAssertEqual(try DeviceChoice.auto.resolve().device, .cuda(0))
            XCTAssertEqual(try DeviceChoice.cuda(0).resolve().reason, device.summary)
            return
        }
        let (auto, reason) = try DeviceChoice.auto.resolve()
        XCTAssertEqual(auto, .cpu)
        XCTAssertTrue(reason.hasPrefix("no usable CUDA device: "), reason)
        XCTAssertThrowsError(try DeviceChoice.cuda(0).resolve()) { error in
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix("cuda:0 is not available: "), text)
            if ProcessInfo.processInfo.environment["TERNFLUX_CUDA_DRIVER"] == nil { XCTAssertTrue(text.contains("libcuda.so.1"), text) }
        }
    }

    /// A ternary layer cannot move to a device that is not there, nor in f32 mode; both errors say why.
    func testALayerThatCannotMoveSaysWhy() throws {
        let f32 = try TernaryLinear(ternary: [1, 0, -1, 1], scale: [1, 1], bias: nil, format: .i2, inFeatures: 2, outFeatures: 2, mode: .f32)
        XCTAssertThrowsError(try CUDATernaryLinear(f32, ordinal: 0)) { error in
            XCTAssertTrue("\(error)".contains("--mode f32 runs on the CPU only"), "\(error)")
        }
        guard (try? CUDADevice.probe(0)) == nil else { return }
        let int8 = try TernaryLinear(ternary: [1, 0, -1, 1], scale: [1, 1], bias: nil, format: .t3, inFeatures: 2, outFeatures: 2, mode: .int8)
        XCTAssertThrowsError(try CUDATernaryLinear(int8, ordinal: 0)) { error in
            XCTAssertTrue(error is CUDAUnavailable, "\(error)")
        }
    }

    /// The commands: a bad value exits 64 naming it; `cuda` without a driver exits 1 naming what is missing;
    /// `--mode f32` with `cuda` is refused; `auto` without a driver generates on the CPU and says so; a library
    /// that is not a driver (TERNFLUX_CUDA_DRIVER, for this test) is named with what it lacks.
    func testTheCommandLine() throws {
        let root = TernfluxCommand.root
        let model = root.appendingPathComponent("models/default").path
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("device-\(UUID().uuidString).png")
        defer { try? FileManager.default.removeItem(at: out) }
        func run(_ arguments: [String], environment extra: [String: String] = [:]) throws -> (Int32, String) {
            try TernfluxCommand.run(arguments, environment: extra, removing: ["TERNFLUX_DEVICE"])
        }
        let generate = ["generate", "a red circle", "--model", model, "--steps", "2", "--out", out.path]
        var (status, log) = try run(generate + ["--device", "gpu"])
        XCTAssertEqual(status, 64, log)
        XCTAssertTrue(log.contains("--device 'gpu' is not a device"), log)
        (status, log) = try run(["worker", "--device", "cuda:x"])
        XCTAssertEqual(status, 64, log)
        XCTAssertTrue(log.contains("--device 'cuda:x' is not a device"), log)
        (status, log) = try run(generate, environment: ["TERNFLUX_DEVICE": "cuda0"])
        XCTAssertEqual(status, 64, log)
        XCTAssertTrue(log.contains("TERNFLUX_DEVICE 'cuda0' is not a device"), log)
        (status, log) = try run(generate + ["--device", "cuda", "--mode", "f32"])
        XCTAssertNotEqual(status, 0, log)
        XCTAssertTrue(log.contains("--mode f32 runs on the CPU only"), log)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))

        guard (try? CUDADevice.probe(0)) == nil else { return } // the rest is what a machine without a GPU says
        (status, log) = try run(generate + ["--device", "cuda"])
        XCTAssertEqual(status, 1, log)
        XCTAssertTrue(log.contains("cuda:0 is not available: no NVIDIA driver: cannot open libcuda.so.1"), log)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
        (status, log) = try run(generate + ["--device", "cuda:1"], environment: ["TERNFLUX_CUDA_DRIVER": "/usr/lib/x86_64-linux-gnu/libz.so.1"])
        XCTAssertEqual(status, 1, log)
        XCTAssertTrue(log.contains("the NVIDIA driver /usr/lib/x86_64-linux-gnu/libz.so.1 lacks cuInit"), log)
        (status, log) = try run(generate, environment: ["TERNFLUX_DEVICE": "auto"])
        XCTAssertEqual(status, 0, log)
        XCTAssertTrue(log.contains("device: cpu (auto: no usable CUDA device: no NVIDIA driver"), log)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.path))
    }
}

/// GPU call failures belong to the thread that made the calls (one slot's forward pass), not to the device.
final class CUDAFailuresTests: XCTestCase {
    func testAFailureIsTakenByTheThreadThatRecordedIt() {
        let recorded = DispatchSemaphore(value: 0), checked = DispatchSemaphore(value: 0)
        let other = Thread {
            CUDAFailures.record(ordinal: 3, "first")
            CUDAFailures.record(ordinal: 3, "second")
            recorded.signal()
            checked.wait()
            let failure = CUDAFailures.take(ordinal: 3)
            XCTAssertEqual(failure, CUDAFailures.Failure(ordinal: 3, firstMessage: "first", count: 2))
            XCTAssertNil(CUDAFailures.take(ordinal: 3))
            recorded.signal()
        }
        other.start()
        recorded.wait()
        XCTAssertNil(CUDAFailures.take(ordinal: 3), "another thread's failure taken here")
        checked.signal()
        recorded.wait()
    }
}
