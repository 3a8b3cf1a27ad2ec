import ArgumentParser
import Foundation
import TernaryTensors

extension TernaryFormat: ExpressibleByArgument {}

struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Convert a diffusers FLUX transformer or pipeline folder to a ternary checkpoint.",
        discussion: """
        SRC is a diffusers transformer folder (config.json + safetensors, F32/BF16/F16, sharded or not) or a whole \
        pipeline folder (model_index.json; its transformer/ is converted, the other components are copied). Every \
        linear weight inside transformer_blocks.* and single_transformer_blocks.* is quantized with absmean \
        (BitNet b1.58) and packed; everything else keeps its dtype. A weight stored with its own F32 scale \
        `<name>.weight_scale` (what `ternflux distill` exports: the weight is exactly scale·{−1, 0, +1} per row) is \
        packed with that scale, bit for bit, instead of absmean. DST is written through a temporary folder \
        next to it and appears only when the conversion succeeded. Layout: docs/formats.md.
        """
    )

    @Argument(help: "Source folder (transformer or pipeline).")
    var source: String

    @Argument(help: "Destination folder (must not exist unless --force).")
    var destination: String

    @Option(help: "Packing: i2 (2 bits/weight) or t3 (1.6 bits/weight).")
    var format: TernaryFormat = .i2

    @Flag(help: "Replace DST if it exists.")
    var force = false

    @Flag(help: "List every tensor (quantized, kept unchanged, copied files).")
    var verbose = false

    func run() throws {
        let verbose = self.verbose
        let quantizer = CheckpointQuantizer(format: format, force: force) { line, isDetail in
            if !isDetail || verbose { print(line) }
        }
        let start = Date()
        let report: QuantizeReport
        do {
            report = try quantizer.run(source: URL(fileURLWithPath: source), destination: URL(fileURLWithPath: destination))
        } catch {
            FileHandle.standardError.write(Data("ternflux quantize: \(error)\n".utf8))
            throw ExitCode.failure
        }
        let ratio = report.destinationTransformerBytes > 0
            ? Double(report.sourceTransformerBytes) / Double(report.destinationTransformerBytes) : 0
        print("quantized \(report.quantized.count) linear weights (\(report.quantizedParameters) parameters, \(format.rawValue)); "
              + "kept \(report.passThrough.count) tensors (\(report.passThroughParameters) parameters) unchanged")
        if !report.learnedScales.isEmpty {
            print("kept the learned per-row scales of \(report.learnedScales.count) of them bit for bit")
        }
        print("transformer: \(formatBytes(report.sourceTransformerBytes)) → \(formatBytes(report.destinationTransformerBytes)) "
              + "(\(String(format: "%.2f", ratio))× smaller)")
        print("total: \(formatBytes(report.sourceBytes)) → \(formatBytes(report.destinationBytes)) in \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
        print("wrote \(destination)")
    }
}
