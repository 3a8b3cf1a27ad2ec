import ArgumentParser
import FluxModel
import Foundation
import TernaryTensors

extension TernaryFormat: ExpressibleByArgument {}

struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Convert a FLUX transformer or pipeline (diffusers folder or single file) to a ternary checkpoint.",
        discussion: """
        SRC is a diffusers transformer folder (config.json + safetensors, F32/BF16/F16, sharded or not) or a whole \
        pipeline folder (model_index.json; its transformer/ is converted, the other components are copied). Every \
        linear weight inside transformer_blocks.* and single_transformer_blocks.* is quantized with absmean \
        (BitNet b1.58) and packed; everything else keeps its dtype. A weight stored with its own F32 scale \
        `<name>.weight_scale` (what `ternflux distill` exports: the weight is exactly scale·{−1, 0, +1} per row) is \
        packed with that scale, bit for bit, instead of absmean. DST is written through a temporary folder \
        next to it and appears only when the conversion succeeded. SRC may instead be one or more single-file \
        checkpoints (BFL flux1-dev / flux1-schnell.safetensors, a ComfyUI/Forge bundle, ae.safetensors): they are \
        converted as `ternflux convert` does into a temporary folder next to DST, which is quantized and then \
        removed. Layout: docs/formats.md.
        """
    )

    @Argument(help: "Source folder (transformer or pipeline) or single-file checkpoint(s), then the destination folder (must not exist unless --force).")
    var paths: [String] = []

    @OptionGroup var singleFile: SingleFileOptions

    @Option(help: "Packing: i2 (2 bits/weight) or t3 (1.6 bits/weight).")
    var format: TernaryFormat = .i2

    @Flag(help: "Replace DST if it exists.")
    var force = false

    @Flag(help: "List every tensor (quantized, kept unchanged, copied files).")
    var verbose = false

    func validate() throws {
        guard paths.count >= 2 else { throw ValidationError("give the source (a folder, or single files) and the destination folder") }
    }

    func run() throws {
        let verbose = self.verbose
        let log: (String, Bool) -> Void = { line, isDetail in
            if !isDetail || verbose { print(line) }
        }
        let quantizer = CheckpointQuantizer(format: format, force: force, log: log)
        let sources = paths.dropLast().map { URL(fileURLWithPath: $0) }
        let destination = paths.last!
        let start = Date()
        let report: QuantizeReport
        // The quantizer's temporary folder is `.DST.partial-<pid>-<random>` next to DST.
        let dstURL = URL(fileURLWithPath: destination).standardizedFileURL
        InterruptCleanup.install()
        InterruptCleanup.register(folder: dstURL.deletingLastPathComponent(),
                                  prefix: ".\(dstURL.lastPathComponent).partial-\(ProcessInfo.processInfo.processIdentifier)-")
        do {
            if sources.count == 1, !SingleFileConverter.isSingleFile(sources[0]) {
                report = try quantizer.run(source: sources[0], destination: URL(fileURLWithPath: destination))
            } else {
                for src in sources where !SingleFileConverter.isSingleFile(src) {
                    throw ConversionError.unreadable(path: src.path, detail: FileManager.default.fileExists(atPath: src.path)
                        ? "a folder among several sources; give one diffusers folder, or single files" : "no such file")
                }
                let converter = SingleFileConverter(options: try singleFile.parsed(), log: log,
                                                    willCreateTemporaryFolder: InterruptCleanup.register)
                report = try SingleFileQuantization(converter: converter, quantizer: quantizer)
                    .run(sources: Array(sources), destination: URL(fileURLWithPath: destination))
            }
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
