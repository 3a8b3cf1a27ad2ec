import ArgumentParser
import Foundation
import TernFluxBench
import Worker

/// N replicas of one memory-mapped model on this node: PSS of each and the node total at each N.
struct BenchDensityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "density",
        abstract: "Start replicas of a model one by one (each loads it and runs once) and report PSS per replica and the node total at each count.")

    @Option(help: "Model folder or transformer folder (see `bench replica`).") var model: String
    @Option(help: "Replica counts to measure at, ascending, comma-separated.") var replicas = "1,2,4,8"
    @OptionGroup var activation: ActivationModeOption
    @OptionGroup var deviceOption: DeviceOption
    @Option(help: "Image width (pixels).") var width = 128
    @Option(help: "Image height (pixels).") var height = 128
    @Option(help: "Denoising steps each replica runs.") var steps = 1
    @Option(name: .customLong("t5-length"), help: "Text tokens for a transformer folder.") var t5Length = 32
    @Flag(help: "Print one JSON object instead of text.") var json = false

    struct Report: Encodable {
        let benchmark = "density"
        let model: String
        let mode: String
        let width: Int, height: Int, steps: Int, t5Length: Int
        let weightFileBytes: Int
        let loadAverage: [Double]
        let measurements: [ReplicaDensity.Measurement]
        enum CodingKeys: String, CodingKey {
            case benchmark, model, mode, width, height, steps, measurements
            case t5Length = "t5_length"
            case weightFileBytes = "weight_file_bytes"
            case loadAverage = "load_average"
        }
    }

    func run() throws {
        let counts = replicas.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard counts.count == replicas.split(separator: ",").count, !counts.isEmpty else {
            throw ValidationError("--replicas must be comma-separated integers, got '\(replicas)'")
        }
        let folder = URL(fileURLWithPath: model).standardizedFileURL.resolvingSymlinksInPath()
        guard FileManager.default.fileExists(atPath: folder.path) else { throw FluxCommandError("--model \(folder.path) does not exist") }
        let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let density = ReplicaDensity(
            executable: URL(fileURLWithPath: exe),
            arguments: ["bench", "replica", "--model", folder.path, "--mode", activation.mode.rawValue,
                        "--device", "\(try deviceOption.resolve(mode: activation.mode))", "--width", String(width),
                        "--height", String(height), "--steps", String(steps), "--t5-length", String(t5Length)],
            counts: counts, weightPaths: [folder.path])
        let measurements = try density.run(log: { line in if !json { FluxStderr.line(line) } })
        let report = Report(model: folder.path, mode: activation.mode.rawValue, width: width, height: height, steps: steps,
                            t5Length: t5Length, weightFileBytes: Self.safetensorsBytes(under: folder),
                            loadAverage: Self.loadAverage(), measurements: measurements)
        if json {
            try ReportFormatting.printJSON(report, pretty: false)
            return
        }
        print(String(format: "weights on disk (safetensors under the folder): %.1f MB", Double(report.weightFileBytes) / 1e6))
        print("replicas | node PSS MB | weights PSS MB | working PSS MB | per replica PSS MB")
        for m in measurements {
            let each = m.processes.map { String(format: "%.1f", Double($0.smaps.pss) / 1e6) }.joined(separator: " ")
            print(String(format: "%8d | %11.1f | %14.1f | %14.1f | %@", m.replicas, Double(m.nodeTotalPSS) / 1e6,
                         Double(m.weightsPSS) / 1e6, Double(m.workingPSS) / 1e6, each))
        }
    }

    static func safetensorsBytes(under folder: URL) -> Int {
        guard let walker = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: [.fileSizeKey]) else { return 0 }
        var total = 0
        for case let url as URL in walker where url.pathExtension == "safetensors" {
            total += (try? url.resourceValues(forKeys: [.fileSizeKey]).fileSize) ?? 0
        }
        return total
    }

    static func loadAverage() -> [Double] {
        var values = [Double](repeating: 0, count: 3)
        return getloadavg(&values, 3) == 3 ? values : []
    }
}
