import CTernaryKernels

/// The SIMD path of the ternary GEMM kernels (ternary_gemm.h): detected from the CPU at first use, or forced —
/// by the benchmarks' `--kernel-path`, to measure one path against another in the same run.
public enum KernelPath: String, CaseIterable, Sendable {
    case portable
    case avx2
    case avx512vnni

    var isa: tf_isa {
        switch self {
        case .portable: return TF_ISA_PORTABLE
        case .avx2: return TF_ISA_AVX2
        case .avx512vnni: return TF_ISA_AVX512VNNI
        }
    }

    public struct Unsupported: Error, CustomStringConvertible {
        public let requested: String
        public var description: String {
            let names = KernelPath.allCases.filter { $0.isa.rawValue <= tf_detect_isa().rawValue }.map(\.rawValue)
            return KernelPath(rawValue: requested) == nil
                ? "unknown kernel path '\(requested)' (known: \(KernelPath.allCases.map(\.rawValue).joined(separator: ", ")))"
                : "kernel path '\(requested)' is not supported by this CPU (it runs: \(names.joined(separator: ", ")))"
        }
    }

    /// Forces a path by name ("auto" keeps the detected one); throws for an unknown name or one this CPU lacks.
    public static func force(_ name: String) throws {
        if name == "auto" {
            _ = tf_set_isa(tf_detect_isa())
            return
        }
        guard let path = KernelPath(rawValue: name), tf_set_isa(path.isa) == 0 else { throw Unsupported(requested: name) }
    }
}
