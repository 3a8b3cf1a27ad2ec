import ArgumentParser
import Foundation
import FluxModel

/// Seconds per image of the whole pipeline (tokenize → encode → denoise → VAE → PNG) on one loaded model, and
/// the process's peak RSS: the TernFlux side of the comparison with diffusers (ops/bench/diffusers_bench.py
/// measures the same things the same way).
struct BenchGenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Time whole-pipeline image generation on one loaded model (one warm-up image, then --repeat timed ones) and report peak RSS.")

    @Option(help: "Model folder (diffusers layout).") var model: String?
    @Option(help: "Prompt.") var prompt = "a red circle to the left of a blue square"
    @Option(help: "Denoising steps.") var steps = 8
    @Option(help: "Image width in pixels.") var width = 128
    @Option(help: "Image height in pixels.") var height = 128
    @OptionGroup var activation: ActivationModeOption
    @OptionGroup var deviceOption: DeviceOption
    @Option(name: .customLong("repeat"), help: "Timed images after the warm-up.") var repeats = 3
    @Flag(help: "Print one JSON object instead of text.") var json = false
    @OptionGroup var kernelPathOption: KernelPathOption
    @OptionGroup var trueCFG: TrueCFGOptions

    struct Report: Encodable {
        let benchmark = "generate"
        let model: String, mode: String, device: String, prompt: String
        let steps: Int, width: Int, height: Int
        /// Bytes of ternary weights resident on the GPU (0 on the CPU).
        let deviceWeightBytes: Int
        /// 1: no classifier-free guidance (one transformer call per step); above 1: two.
        let trueCFGScale: Float
        let loadSeconds: Double
        let secondsPerImage: [Double]
        let medianSecondsPerImage: Double
        let cpuSecondsPerImage: [Double]
        let medianCPUSecondsPerImage: Double
        let phaseSeconds: [String: Double]
        let peakRSSBytes: Int
        enum CodingKeys: String, CodingKey {
            case benchmark, model, mode, device, prompt, steps, width, height
            case deviceWeightBytes = "device_weight_bytes"
            case trueCFGScale = "true_cfg_scale"
            case loadSeconds = "load_seconds"
            case secondsPerImage = "seconds_per_image"
            case medianSecondsPerImage = "median_seconds_per_image"
            case cpuSecondsPerImage = "cpu_seconds_per_image"
            case medianCPUSecondsPerImage = "median_cpu_seconds_per_image"
            case phaseSeconds = "phase_seconds_last_image"
            case peakRSSBytes = "peak_rss_bytes"
        }
    }

    func run() throws {
        try kernelPathOption.apply()
        guard repeats >= 1 else { throw ValidationError("--repeat must be ≥ 1, got \(repeats)") }
        let folder = try ModelFolder.resolve(flag: model)
        let start = Date()
        let device = try deviceOption.resolve(mode: activation.mode)
        let pipeline = try FluxPipeline(modelDirectory: folder, mode: activation.mode, device: device)
        pipeline.transformer.reportPlacement()
        let loadSeconds = Date().timeIntervalSince(start)
        var request = FluxPipeline.Request(prompt: prompt, steps: steps, width: width, height: height,
                                           maxSequenceLength: pipeline.defaultMaxSequenceLength)
        trueCFG.apply(to: &request, defaults: pipeline.generationDefaults)
        // One image as a worker makes it: the pipeline's pixels, then the PNG.
        func image() throws -> (FluxPipeline.Timings, pngSeconds: Double) {
            let result = try pipeline.generate(request)
            let encodeStart = Date()
            _ = try result.image.png()
            return (result.timings, Date().timeIntervalSince(encodeStart))
        }
        _ = try image() // warm-up (and the request check): page faults of the mapped weights, first allocations
        var seconds: [Double] = [], cpuSeconds: [Double] = []
        var last = (FluxPipeline.Timings(), pngSeconds: 0.0)
        for _ in 0..<repeats {
            let t0 = Date(), c0 = Self.processCPUSeconds()
            last = try image()
            seconds.append(Date().timeIntervalSince(t0))
            cpuSeconds.append(Self.processCPUSeconds() - c0)
        }
        let (phases, pngSeconds) = last
        let median = Self.median(seconds)
        let report = Report(model: folder.path, mode: activation.mode.rawValue, device: "\(device)", prompt: prompt, steps: steps,
                            width: width, height: height, deviceWeightBytes: pipeline.transformer.deviceWeightBytes,
                            trueCFGScale: request.usesTrueCFG ? request.trueCFGScale : 1,
                            loadSeconds: loadSeconds, secondsPerImage: seconds, medianSecondsPerImage: median,
                            cpuSecondsPerImage: cpuSeconds, medianCPUSecondsPerImage: Self.median(cpuSeconds),
                            phaseSeconds: ["tokenize": phases.tokenize, "encode": phases.encode, "denoise": phases.denoise,
                                           "vae_decode": phases.vaeDecode, "png_encode": pngSeconds],
                            peakRSSBytes: PeakRSS.bytes())
        if json {
            try ReportFormatting.printJSON(report, pretty: false)
        } else {
            print(String(format: "%@ (%@): %.4f s per image (median of %d; %.4f s of process CPU time), load %.3f s, peak RSS %.1f MB",
                         folder.path, activation.mode.rawValue, median, repeats, report.medianCPUSecondsPerImage, loadSeconds,
                         Double(report.peakRSSBytes) / 1e6))
        }
    }

    static func median(_ values: [Double]) -> Double {
        let s = values.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// User + system CPU time of this process (all threads), as getrusage reports it.
    static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func s(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return s(usage.ru_utime) + s(usage.ru_stime)
    }
}
