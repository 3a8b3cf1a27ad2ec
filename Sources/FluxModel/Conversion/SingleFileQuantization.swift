import Foundation
import TernaryTensors

/// `ternflux quantize` given single-file checkpoints: converts them (`SingleFileConverter`) into a hidden
/// temporary folder next to DST, quantizes that folder as any diffusers folder (`CheckpointQuantizer`), and
/// removes the temporary folder whatever happens. The result is the ternary checkpoint `convert` then `quantize`
/// would give; the disk needs room for one converted copy of the sources while it runs.
public struct SingleFileQuantization {
    public var converter: SingleFileConverter
    public var quantizer: CheckpointQuantizer

    public init(converter: SingleFileConverter, quantizer: CheckpointQuantizer) {
        self.converter = converter
        self.quantizer = quantizer
    }

    public func run(sources: [URL], destination: URL) throws -> QuantizeReport {
        let fm = FileManager.default
        let dst = destination.standardizedFileURL
        let exists = fm.fileExists(atPath: dst.path) || (try? fm.destinationOfSymbolicLink(atPath: dst.path)) != nil
        if exists && !quantizer.force { throw QuantizeError.destinationExists(path: dst.path) }
        // Header-only check first: a source without a transformer has nothing to quantize.
        let plan = try converter.plan(sources: sources)
        guard plan.transformerConfig != nil else {
            throw QuantizeError.source(path: sources.map(\.path).joined(separator: ", "),
                                       detail: "no FLUX transformer in the source(s); nothing to quantize (use ternflux convert)")
        }
        let suffix = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        let temp = dst.deletingLastPathComponent().appendingPathComponent(".\(dst.lastPathComponent).converting-\(suffix)")
        converter.willCreateTemporaryFolder(temp)
        defer { try? fm.removeItem(at: temp) }
        var converter = self.converter
        converter.force = false
        _ = try converter.run(sources: sources, destination: temp)
        return try quantizer.run(source: temp, destination: dst)
    }
}
