import ArgumentParser
import Foundation
import MiniGenEval
import FluxModel
import TernaryTensors

/// `ternflux eval`: the mini-GenEval — generate images for the caption-grammar prompts, detect the objects in
/// them and print GenEval's per-task table.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Score a model with the mini-GenEval (palette detector, GenEval's six tasks).",
        discussion: """
            Generates --images-per-prompt images for each prompt (the built-in set of \
            \(DefaultEvalPrompts.perCategory * 6) prompts, \(DefaultEvalPrompts.perCategory) per task, or --prompts FILE), \
            finds the objects with a deterministic detector (nearest palette colour, connected components, shape \
            from fill ratio and apex width, centroids) and prints the accuracy per task and overall (the mean of \
            the task accuracies), as GenEval does. Prompts outside the caption grammar are generated and scored as \
            failures in the task `other`. A prompt file: one prompt per line, or JSON lines \
            {"prompt": "...", "tag": "colors"}; blank lines and #-comments are skipped; malformed lines are all \
            reported by number before anything is generated. Image size, steps and classifier-free guidance \
            are the model's defaults (its generation_defaults.json). Model: --model, else $TERNFLUX_MODEL, else models/default.
            """)

    @Option(help: "Model folder (diffusers layout).") var model: String?
    @Option(help: "Prompt file (default: the built-in set).") var prompts: String?
    @Option(name: .customLong("images-per-prompt"), help: "Images per prompt (GenEval uses 4).") var imagesPerPrompt = 1
    @Option(help: "Seed of the first image; image j of prompt i uses seed + i·N + j.") var seed: UInt64 = 0
    @Flag(help: "Print the report as JSON (per-task scores and every image's detections) instead of the table.")
    var json = false
    @Option(help: "Write a PNG grid of sample images with their prompts (green frame: correct, red: wrong).")
    var grid: String?
    @Option(name: .customLong("grid-per-task"), help: "Images per task in the grid (one row per task).")
    var gridPerTask = 4
    @Option(help: "Denoising steps (default: the model's).") var steps: Int?
    @OptionGroup var activation: ActivationModeOption
    @OptionGroup var deviceOption: DeviceOption
    @OptionGroup var trueCFG: TrueCFGOptions

    func validate() throws {
        guard imagesPerPrompt >= 1 else { throw ValidationError("--images-per-prompt must be ≥ 1, got \(imagesPerPrompt)") }
        guard gridPerTask >= 1 else { throw ValidationError("--grid-per-task must be ≥ 1, got \(gridPerTask)") }
    }

    func run() throws {
        // Prompts first: a malformed file stops the run before any weights are loaded.
        let list: [(text: String, prompt: EvalPrompt)]
        if let prompts {
            list = try EvalPromptFile.load(URL(fileURLWithPath: prompts)).map { ($0.text, $0.prompt) }
        } else {
            list = DefaultEvalPrompts.prompts().map { ($0.caption, $0) }
        }
        // The grid is written at the end: a folder that is not there should not cost a whole run.
        if let grid {
            let parent = URL(fileURLWithPath: grid).deletingLastPathComponent()
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: parent.path, isDirectory: &isDirectory), isDirectory.boolValue,
                  FileManager.default.isWritableFile(atPath: parent.path) else {
                throw FluxCommandError("--grid \(grid): the folder \(parent.path) does not exist or is not writable")
            }
        }
        let folder = try ModelFolder.resolve(flag: model)
        let device = try deviceOption.resolve(mode: activation.mode)
        let pipeline = try FluxPipeline(modelDirectory: folder, mode: activation.mode, device: device)
        pipeline.transformer.reportPlacement()
        var template = pipeline.defaultRequest(prompt: "")
        if let steps { template.steps = steps }
        trueCFG.apply(to: &template, defaults: pipeline.generationDefaults)

        var options = MiniGenEvalRun.Options()
        options.imagesPerPrompt = imagesPerPrompt
        options.seed = seed
        options.gridImagesPerCategory = grid == nil ? 0 : gridPerTask
        let total = list.count * imagesPerPrompt
        let guidanceNote = template.usesTrueCFG
            ? ", classifier-free guidance \(template.trueCFGScale) against \"\(template.negativePrompt ?? "")\"" : ""
        FluxStderr.line("eval: \(list.count) prompts × \(imagesPerPrompt) = \(total) images, \(template.width)×\(template.height), "
                        + "\(template.steps) steps\(guidanceNote), model \(folder.path)")
        let start = Date()
        let (report, tiles) = try MiniGenEvalRun(options: options).run(
            model: folder.path, prompts: list,
            generate: { text, seed in
                var request = template
                request.prompt = text
                request.seed = seed
                // The pixels are scored as the pipeline made them; generate checks the request (a bad --steps
                // stops the run at the first image, before any weights are used).
                let image = try pipeline.generate(request).image
                return (image.rgb, image.width, image.height)
            },
            progress: { done, total, _ in
                if done % 50 == 0 || done == total {
                    FluxStderr.line(String(format: "eval: %d/%d images, %.1f s", done, total, Date().timeIntervalSince(start)))
                }
            })
        if let grid {
            let url = URL(fileURLWithPath: grid)
            let png = try EvalGrid.png(tiles, columns: gridPerTask)
            do { try Data(png).write(to: url) } catch {
                throw FluxCommandError("cannot write \(url.path): \(error.localizedDescription)")
            }
            FluxStderr.line("eval: grid of \(tiles.count) images written to \(url.path)")
        }
        if json {
            FileHandle.standardOutput.write(try report.json())
            print()
        } else {
            print(report.table())
        }
    }
}
