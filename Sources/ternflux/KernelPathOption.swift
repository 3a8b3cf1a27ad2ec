import ArgumentParser
import TernaryTensors

/// `--kernel-path`: which SIMD path the ternary GEMMs take in a benchmark (auto = the best this CPU runs), so one
/// path can be measured against another on the same machine in the same run.
struct KernelPathOption: ParsableArguments {
    @Option(name: .customLong("kernel-path"),
            help: "Ternary GEMM kernel path: auto, portable, avx2 or avx512vnni (auto: the best this CPU runs).")
    var kernelPath = "auto"

    /// Forces the path; a name this CPU cannot run is a validation error naming the paths it can.
    func apply() throws {
        do {
            try KernelPath.force(kernelPath)
        } catch let error as KernelPath.Unsupported {
            throw ValidationError("--kernel-path: \(error)")
        }
    }
}
