import Foundation
import XCTest

/// The CUDA backend's host side, end to end, on a machine without a GPU: a stand-in libcuda.so.1
/// (ops/gpu/driver_emulation: the driver API over host memory, the W2A8 kernels run as the CPU reference of
/// their arithmetic, every argument, grid and buffer size checked against the kernels' signatures) loaded
/// through TERNFLUX_CUDA_DRIVER. What it proves is the host code: the layers uploaded and called, the scratch
/// pool and streams, the transformer's placement, the commands and their errors. The kernels themselves are
/// the device check's (ops/gpu/check.sh).
final class CUDAHostPathTests: XCTestCase {
    static let root = TernfluxCommand.root
    static let fakeDriver: String = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fake-cuda-\(getpid())").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [root.appendingPathComponent("ops/gpu/driver_emulation/build.sh").path, dir]
        p.standardOutput = Pipe()
        try! p.run()
        p.waitUntilExit()
        precondition(p.terminationStatus == 0, "ops/gpu/driver_emulation/build.sh failed")
        return dir + "/libcuda.so.1"
    }()

    /// `fake` nil: the real driver lookup; else the stand-in driver with these extra variables.
    func run(_ arguments: [String], fake: [String: String]? = [:]) throws -> (status: Int32, log: String) {
        let driver = fake.map { $0.merging(["TERNFLUX_CUDA_DRIVER": Self.fakeDriver]) { $1 } } ?? [:]
        let (status, log) = try TernfluxCommand.run(arguments, environment: driver, removing: ["TERNFLUX_DEVICE"])
        return (status, log)
    }

    func temporary(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("\(UUID().uuidString.prefix(8))-\(name)")
    }

    /// `generate --device cuda` gives the CPU int8 PNG byte for byte (the shipped model, with its classifier-
    /// free guidance: two transformer calls per step).
    func testGenerateOnCUDAGivesTheCPUInt8Image() throws {
        let model = Self.root.appendingPathComponent("models/default").path
        let (cpu, cuda) = (temporary("cpu.png"), temporary("cuda.png"))
        defer { try? FileManager.default.removeItem(at: cpu); try? FileManager.default.removeItem(at: cuda) }
        let prompt = ["generate", "a red circle above a blue square", "--model", model, "--seed", "7"]
        var (status, log) = try run(prompt + ["--device", "cpu", "--mode", "int8", "--out", cpu.path], fake: nil)
        XCTAssertEqual(status, 0, log)
        (status, log) = try run(prompt + ["--device", "cuda", "--out", cuda.path])
        XCTAssertEqual(status, 0, log)
        XCTAssertTrue(log.contains("device: cuda:0 holds 52 ternary linears"), log)
        XCTAssertFalse(log.contains("fake libcuda:"), log) // no misuse of the driver API
        XCTAssertEqual(try Data(contentsOf: cuda), try Data(contentsOf: cpu))
    }

    /// A FLUX.1-dev-width step with both packings (t3 is repacked as i2 on upload): the latents on cuda are the
    /// CPU int8 latents bit for bit.
    func testAFluxWidthStepOnCUDAGivesTheCPUInt8Latents() throws {
        for format in ["i2", "t3"] {
            let (cpu, cuda) = (temporary("cpu.safetensors"), temporary("cuda.safetensors"))
            defer { try? FileManager.default.removeItem(at: cpu); try? FileManager.default.removeItem(at: cuda) }
            let step = ["bench", "flux-step", "--mode", "int8", "--format", format, "--double", "1", "--single", "1",
                        "--width", "32", "--height", "32", "--t5-length", "8"]
            var (status, log) = try run(step + ["--device", "cpu", "--save-latents", cpu.path], fake: nil)
            XCTAssertEqual(status, 0, log)
            (status, log) = try run(step + ["--device", "cuda", "--save-latents", cuda.path])
            XCTAssertEqual(status, 0, log)
            XCTAssertFalse(log.contains("fake libcuda:"), log)
            XCTAssertEqual(try Data(contentsOf: cuda), try Data(contentsOf: cpu), format)
        }
    }

    /// Kernels that fail mid-run fail the command naming the first failure and how many calls failed, and
    /// leave no PNG; weights that do not fit fail at load naming the tensor.
    func testDeviceFailuresAreNamedAndLeaveNothing() throws {
        let model = Self.root.appendingPathComponent("models/default").path
        let out = temporary("failed.png")
        defer { try? FileManager.default.removeItem(at: out) }
        var (status, log) = try run(["generate", "a red circle", "--model", model, "--device", "cuda", "--out", out.path],
                                    fake: ["FAKE_LIBCUDA_FAIL_LAUNCHES_AFTER": "30"])
        XCTAssertEqual(status, 1, log)
        XCTAssertTrue(log.contains("GPU layer calls failed; the first: cuLaunchKernel("), log)
        XCTAssertTrue(log.contains("CUDA_ERROR_LAUNCH_FAILED"), log)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
        (status, log) = try run(["generate", "a red circle", "--model", model, "--device", "cuda", "--out", out.path],
                                fake: ["FAKE_LIBCUDA_MEMORY": "100000"])
        XCTAssertEqual(status, 1, log)
        XCTAssertTrue(log.contains("cannot go to the GPU: cuda:0: cuMemAlloc failed on CUDA device 0 uploading a ["), log)
        XCTAssertTrue(log.contains("CUDA_ERROR_OUT_OF_MEMORY"), log)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
    }
}
