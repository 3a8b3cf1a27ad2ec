import COpenBLAS
import CTernaryKernels
import Foundation
import TernaryTensors

/// One measured GEMM: Y[m, n] = X[m, k] · Wᵀ by one implementation.
public struct KernelBenchmarkResult: Codable, Sendable {
    public var m: Int
    public var k: Int
    public var n: Int
    /// `sgemm` (OpenBLAS on fp32 weights), `ternary-f32` or `ternary-int8`.
    public var kernel: String
    /// `fp32`, `i2` or `t3`.
    public var weights: String
    /// Best wall-clock time of the repeats, in seconds.
    public var seconds: Double
    /// Process CPU time (all threads) of the repeat with the best wall-clock time, in seconds. Less
    /// sensitive than wall-clock time to other load on the machine; OpenBLAS's idle threads spin, which
    /// counts here.
    public var cpuSeconds: Double
    /// 2·m·k·n / seconds, in 10⁹ per second.
    public var gflops: Double
    /// sgemm's best time over this kernel's best time, both measured in the same run.
    public var ratioToSgemm: Double
    /// Bytes of weight data read: fp32 matrix, or packed rows plus the fp32 per-row scale.
    public var weightBytes: Int
    /// Largest |y − y_sgemm| over the output, relative to max |y_sgemm| (a sanity check of the run).
    public var relativeDifferenceToSgemm: Double
}

/// Benchmarks the ternary kernels against OpenBLAS sgemm on the same problems, with the same thread count.
public struct KernelBenchmark: Sendable {
    /// FLUX.1 linear shapes (in, out): attention projections, feed-forward up and down, fused QKV, single-block output.
    public static let fluxShapes: [(k: Int, n: Int)] = [(3072, 3072), (3072, 12288), (12288, 3072), (3072, 9216), (15360, 3072)]
    /// Image tokens of 512², 1024² and 2048²-class latents.
    public static let tokenCounts = [256, 1024, 4096]

    public var threads: Int
    public var repeats: Int

    public init(threads: Int, repeats: Int) {
        self.threads = max(1, threads)
        self.repeats = max(1, repeats)
    }

    /// Measures sgemm, ternary f32 and ternary int8 (i2 and t3 each) on one shape. Every repeat runs all
    /// variants in turn, so a load change on the machine hits them alike; the best time of each is kept.
    public func run(m: Int, k: Int, n: Int) -> [KernelBenchmarkResult] {
        openblas_set_num_threads(Int32(threads))
        var rng = SplitMix64(seed: UInt64(m * 31 + k * 7 + n))
        let x = UnsafeMutableBufferPointer<Float>.allocate(capacity: m * k)
        let wq = UnsafeMutableBufferPointer<Int8>.allocate(capacity: n * k)
        let w = UnsafeMutableBufferPointer<Float>.allocate(capacity: n * k)
        let y = UnsafeMutableBufferPointer<Float>.allocate(capacity: m * n)
        let yRef = UnsafeMutableBufferPointer<Float>.allocate(capacity: m * n)
        defer { x.deallocate(); wq.deallocate(); w.deallocate(); y.deallocate(); yRef.deallocate() }
        for i in 0..<(m * k) { x[i] = rng.signed() }
        let scale = (0..<n).map { _ in 0.01 + 0.02 * rng.unit() }
        for row in 0..<n {
            for c in 0..<k {
                let q = rng.trit()
                wq[row * k + c] = q
                w[row * k + c] = Float(q) * scale[row]
            }
        }
        var packed: [TernaryFormat: [UInt8]] = [:]
        for format in TernaryFormat.allCases {
            var p = [UInt8](repeating: 0, count: n * format.rowBytes(inFeatures: k))
            let rc = p.withUnsafeMutableBufferPointer { tf_pack(format.cFormat, wq.baseAddress!, Int64(n), Int64(k), $0.baseAddress!) }
            precondition(rc == 0, "packing benchmark weights failed")
            packed[format] = p
        }

        struct Variant { let kernel: String; let weights: String; let bytes: Int; let run: () -> Void }
        var variants = [Variant(kernel: "sgemm", weights: "fp32", bytes: 4 * n * k, run: {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), 1,
                        x.baseAddress, Int32(k), w.baseAddress, Int32(k), 0, yRef.baseAddress, Int32(n))
        })]
        for mode in ActivationMode.allCases {
            for format in TernaryFormat.allCases {
                let p = packed[format]!
                variants.append(Variant(kernel: "ternary-\(mode.rawValue)", weights: format.rawValue,
                                        bytes: p.count + 4 * n, run: { [threads] in
                    let rc = p.withUnsafeBufferPointer { pp in
                        scale.withUnsafeBufferPointer { sp in
                            tf_ternary_gemm(mode.cMode, format.cFormat, x.baseAddress, Int64(m), Int64(k), pp.baseAddress,
                                            sp.baseAddress, nil, Int64(n), y.baseAddress, Int32(threads))
                        }
                    }
                    precondition(rc == 0, "ternary GEMM failed: \(String(cString: tf_gemm_error_string(rc)))")
                }))
            }
        }

        var best = [Double](repeating: .infinity, count: variants.count)
        var bestCPU = [Double](repeating: .infinity, count: variants.count)
        var difference = [Double](repeating: 0, count: variants.count)
        for (index, variant) in variants.enumerated() { // warm-up (page faults, thread start) and the sanity check
            variant.run()
            if index > 0 { difference[index] = Self.relativeDifference(y, yRef) }
        }
        for _ in 0..<repeats {
            for (index, variant) in variants.enumerated() {
                let cpuStart = Self.processCPUSeconds()
                let start = DispatchTime.now().uptimeNanoseconds
                variant.run()
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                let cpu = Self.processCPUSeconds() - cpuStart
                if seconds < best[index] {
                    best[index] = seconds
                    bestCPU[index] = cpu
                }
            }
        }
        let flops = 2.0 * Double(m) * Double(k) * Double(n)
        return variants.enumerated().map { index, variant in
            KernelBenchmarkResult(m: m, k: k, n: n, kernel: variant.kernel, weights: variant.weights,
                                  seconds: best[index], cpuSeconds: bestCPU[index], gflops: flops / best[index] / 1e9,
                                  ratioToSgemm: best[0] / best[index], weightBytes: variant.bytes,
                                  relativeDifferenceToSgemm: difference[index])
        }
    }

    static func processCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    static func relativeDifference(_ a: UnsafeMutableBufferPointer<Float>, _ b: UnsafeMutableBufferPointer<Float>) -> Double {
        var maxDiff: Float = 0, maxRef: Float = 0
        for i in 0..<a.count {
            maxDiff = max(maxDiff, abs(a[i] - b[i]))
            maxRef = max(maxRef, abs(b[i]))
        }
        return maxRef > 0 ? Double(maxDiff / maxRef) : Double(maxDiff)
    }

    /// The CPU model (from /proc/cpuinfo), the kernel path in use, and OpenBLAS's core type.
    public static func environment() -> [String: String] {
        var env: [String: String] = [:]
        if let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
           let line = info.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
           let colon = line.firstIndex(of: ":") {
            env["cpu"] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        env["online_cores"] = String(ProcessInfo.processInfo.activeProcessorCount)
        env["kernel_path"] = String(cString: tf_isa_name(tf_active_isa()))
        if let core = openblas_get_corename() { env["openblas_core"] = String(cString: core) }
        if let load = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) {
            env["load_average_at_start"] = load.split(separator: " ").prefix(3).joined(separator: " ")
        }
        return env
    }
}
