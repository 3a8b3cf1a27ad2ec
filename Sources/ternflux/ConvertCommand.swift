import ArgumentParser
import FluxModel
import Foundation
import TernaryTensors

struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert single-file FLUX.1 checkpoints (BFL, ComfyUI/Forge, ae) to a diffusers-layout folder.",
        discussion: """
        Each SRC is a .safetensors file: a BFL transformer (flux1-dev / flux1-schnell.safetensors: double_blocks.*, \
        single_blocks.*), a ComfyUI/Forge bundle (model.diffusion_model.*, with vae.* and text_encoders.clip_l.* / \
        text_encoders.t5xxl.* when present) or a BFL ae.safetensors. DST gets transformer/, vae/, text_encoder/ and \
        text_encoder_2/ for what the sources hold, each with its config.json; with a transformer also \
        model_index.json, scheduler/ and generation_defaults.json for FLUX.1-dev or -schnell. Tokenizers are not in \
        any single file: copy tokenizer/ and tokenizer_2/ from a diffusers FLUX.1 folder. Tensors keep their dtype \
        and are copied byte for byte (memory stays a few MB deep). DST is written as DST.partial-<random> next to it \
        and renamed at the end; an existing non-empty DST needs --force. Mapping and inferred values: docs/formats.md.
        """
    )

    @Argument(help: "Source file(s), then the destination folder.")
    var paths: [String] = []

    @OptionGroup var singleFile: SingleFileOptions

    @Flag(help: "Replace DST if it exists and is not empty.")
    var force = false

    @Flag(help: "List every tensor written and the source bytes it comes from.")
    var verbose = false

    func validate() throws {
        guard paths.count >= 2 else { throw ValidationError("give at least one source file and the destination folder") }
    }

    func run() throws {
        let verbose = self.verbose
        let sources = paths.dropLast().map { URL(fileURLWithPath: $0) }
        let destination = URL(fileURLWithPath: paths.last!)
        do {
            for src in sources where !SingleFileConverter.isSingleFile(src) {
                throw ConversionError.unreadable(path: src.path, detail: FileManager.default.fileExists(atPath: src.path)
                    ? "a folder; convert takes single .safetensors files (quantize takes diffusers folders)" : "no such file")
            }
            InterruptCleanup.install()
            let converter = SingleFileConverter(options: try singleFile.parsed(), force: force, log: { line, isDetail in
                if !isDetail || verbose { print(line) }
            }, willCreateTemporaryFolder: InterruptCleanup.register)
            let report = try converter.run(sources: Array(sources), destination: destination)
            let total = report.components.reduce(Int64(0)) { $0 + $1.bytes }
            print("wrote \(report.destination.path): \(report.components.map(\.folder).joined(separator: ", ")) "
                  + "(\(formatBytes(total)) in \(String(format: "%.1f", report.seconds)) s)")
            if report.variant != nil {
                let missing = ["vae", "text_encoder", "text_encoder_2"].filter { f in !report.components.contains { $0.folder == f } }
                print("to run it, add tokenizer/ and tokenizer_2/" + (missing.isEmpty ? "" : " and \(missing.joined(separator: "/"))/")
                      + " from a diffusers FLUX.1 folder")
            }
        } catch {
            FileHandle.standardError.write(Data("ternflux convert: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }
}
