import ArgumentParser
import Foundation
import TernFluxBench
import TernaryTensors

/// `ternflux bench kernels`: ternary GEMM (f32 and int8 activations, i2 and t3 weights) against OpenBLAS
/// sgemm on FLUX.1 linear shapes, all measured in one run with the same thread count.
struct BenchKernelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "Ternary GEMM vs OpenBLAS sgemm on FLUX.1 linear shapes (GFLOP/s, ratio, weight bytes)."
    )

    @Flag(help: "Print one JSON document instead of a table.")
    var json = false
    @OptionGroup var kernelPathOption: KernelPathOption

    @Option(help: "Threads for OpenBLAS and the ternary kernels alike (default: all online cores).")
    var threads: Int?

    @Option(name: .customLong("repeat"), help: "Timed repeats per variant; the best time is kept.")
    var repeats: Int = 3

    @Flag(help: "Only (K, N) = (3072, 3072) at M = 256 and 1024, one repeat: a smoke test, not a figure.")
    var quick = false

    @Option(help: "Token counts M to run, comma separated (default 256,1024,4096).")
    var tokens: String?

    @Option(help: "(K, N) shapes to run as KxN, comma separated (default: the five FLUX.1 shapes).")
    var shapes: String?

    func validate() throws {
        if let shapes, parsedShapes(shapes) == nil {
            throw ValidationError("--shapes must be KxN pairs of positive integers separated by commas, got '\(shapes)'")
        }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
        if repeats < 1 { throw ValidationError("--repeat must be at least 1, got \(repeats)") }
        if let tokens, parsedTokens(tokens) == nil {
            throw ValidationError("--tokens must be positive integers separated by commas, got '\(tokens)'")
        }
    }

    private func parsedShapes(_ text: String) -> [(k: Int, n: Int)]? {
        var result: [(k: Int, n: Int)] = []
        for item in text.split(separator: ",") {
            let parts = item.lowercased().split(separator: "x").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard parts.count == 2, let k = parts[0], let n = parts[1], k > 0, n > 0 else { return nil }
            result.append((k, n))
        }
        return result.isEmpty ? nil : result
    }

    private func parsedTokens(_ text: String) -> [Int]? {
        let values = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) > 0 }) else { return nil }
        return values.map { $0! }
    }

    func run() throws {
        try kernelPathOption.apply()
        let threadCount = threads ?? ProcessInfo.processInfo.activeProcessorCount
        let bench = KernelBenchmark(threads: threadCount, repeats: quick ? 1 : repeats)
        let shapeList = shapes.flatMap(parsedShapes) ?? (quick ? [KernelBenchmark.fluxShapes[0]] : KernelBenchmark.fluxShapes)
        let ms = tokens.flatMap(parsedTokens) ?? (quick ? [256, 1024] : KernelBenchmark.tokenCounts)
        var environment = KernelBenchmark.environment()
        environment["threads"] = String(threadCount)
        environment["repeats"] = String(bench.repeats)

        if !json {
            for key in environment.keys.sorted() { print("\(key): \(environment[key]!)") }
            print("")
            let header = [pad("M", 5), pad("K", 6), pad("N", 6), pad("kernel", 13), pad("weights", 7), pad("ms", 9), pad("cpu ms", 9),
                          pad("GFLOP/s", 8), pad("vs sgemm", 8), pad("weight bytes", 13), pad("bytes/fp32", 10),
                          pad("max rel diff", 12)]
            print(header.joined(separator: " "))
        }
        var results: [KernelBenchmarkResult] = []
        for m in ms {
            for (k, n) in shapeList {
                let rows = bench.run(m: m, k: k, n: n)
                results += rows
                if !json {
                    for r in rows { print(line(r)) }
                }
            }
        }
        if json {
            struct Report: Encodable { let environment: [String: String]; let results: [KernelBenchmarkResult] }
            try ReportFormatting.printJSON(Report(environment: environment, results: results))
        }
    }

    private func line(_ r: KernelBenchmarkResult) -> String {
        let fp32Bytes = Double(4 * r.k * r.n)
        var cells: [String] = []
        cells.append(pad(String(r.m), 5))
        cells.append(pad(String(r.k), 6))
        cells.append(pad(String(r.n), 6))
        cells.append(pad(r.kernel, 13))
        cells.append(pad(r.weights, 7))
        cells.append(pad(String(format: "%.1f", r.seconds * 1000), 9))
        cells.append(pad(String(format: "%.1f", r.cpuSeconds * 1000), 9))
        cells.append(pad(String(format: "%.1f", r.gflops), 8))
        cells.append(pad(String(format: "%.2fx", r.ratioToSgemm), 8))
        cells.append(pad(String(r.weightBytes), 13))
        cells.append(pad(String(format: "1/%.1f", fp32Bytes / Double(r.weightBytes)), 10))
        cells.append(pad(String(format: "%.1e", r.relativeDifferenceToSgemm), 12))
        return cells.joined(separator: " ")
    }

    private func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
    }
}
