import ArgumentParser
import FluxModel
import Foundation
import TernaryTensors

/// `--device`: where the ternary block linears run, for every command that runs a model (generate, eval,
/// worker, bench generate / flux-step / density / replica, debug flux-forward). `cuda` puts them on the GPU
/// (weights resident there, int8 activations, the CPU int8 kernels' exact sums); attention, norms, the
/// encoders and the VAE stay on the CPU (docs/gpu.md).
struct DeviceOption: ParsableArguments {
    /// The default is `cpu` until the CUDA path has run on a GPU (docs/gpu.md): `auto` would otherwise take an
    /// unverified path on every machine with a driver.
    static let defaultChoice = DeviceChoice.cpu

    @Option(help: "Where the ternary block linears run: cpu, cuda (device 0), cuda:N, or auto (CUDA when a driver and a usable device are found, else the CPU). Default: $TERNFLUX_DEVICE, else cpu.")
    var device: String?

    func choice() throws -> DeviceChoice {
        do {
            return try DeviceChoice(option: device, environment: ProcessInfo.processInfo.environment, fallback: Self.defaultChoice)
        } catch { throw ValidationError("\(error)") }
    }

    func validate() throws { _ = try choice() }

    /// The device for a run in `mode`, said on stderr when it is not the plain CPU default. int8 is the only mode
    /// the GPU runs: `auto` with `--mode f32` is the CPU, `cuda` with it an error.
    func resolve(mode: ActivationMode) throws -> ComputeDevice {
        let choice = try choice()
        if mode != .int8 {
            switch choice {
            case .cuda:
                throw FluxCommandError("--device \(choice) runs the ternary linears with int8 activations; --mode \(mode.rawValue) runs on the CPU only (use --mode int8 or --device cpu)")
            case .auto:
                FluxStderr.line("device: cpu (auto: --mode \(mode.rawValue) runs on the CPU only)")
                return .cpu
            case .cpu:
                return .cpu
            }
        }
        let (device, reason) = try choice.resolve()
        if choice != .cpu { FluxStderr.line("device: \(device) (\(choice == .auto ? "auto: " : "")\(reason))") }
        return device
    }
}

extension FluxTransformer {
    /// What went to the GPU, on stderr (nothing on the CPU).
    func reportPlacement() {
        guard case .cuda = device else { return }
        FluxStderr.line(String(format: "device: %@ holds %d ternary linears (%.1f MiB of weights); the rest runs on the CPU",
                               "\(device)", deviceLayerCount, Double(deviceWeightBytes) / 1_048_576))
    }
}
