import ArgumentParser
import Foundation
import TernaryTensors

/// `ternflux distill`: runs the PyTorch distiller (ops/distill/distill.py) on a diffusers FLUX pipeline, then packs
/// its export with `ternflux quantize`'s converter, keeping the learned per-row scales bit for bit, and checks them.
struct DistillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "distill",
        abstract: "Image-free ternary distillation of a diffusers FLUX transformer (PyTorch, ops/distill).",
        discussion: """
        TEACHER_DIR is a diffusers FluxPipeline folder (its generation_defaults.json, if any, gives the sampling \
        steps, size and classifier-free guidance the trajectories use). OUT_DIR becomes a ternary pipeline folder \
        (i2 or t3) that `ternflux generate`, `eval` and the worker load. Stage 1 reconstructs each block from cached \
        block inputs of the teacher's own trajectories; stage 2 distils the velocity end to end on the student's own \
        guided trajectories. No image is used: only the calibration prompts (one per line; \
        ops/distill/calibration_prompts.txt for the shipped model). The work folder holds caches and checkpoints; \
        rerunning the same command resumes. Unrecognised options (--stage1-steps N, --stage2-steps N, --stages 1, \
        --traj-prompts N, --threads N, …: `python3 ops/distill/distill.py --help`) go to the distiller unchanged. \
        Needs python3 with torch, diffusers, transformers, safetensors and tqdm \
        (pip install torch diffusers transformers safetensors tqdm). docs/distillation.md.
        """
    )

    @Argument(help: "Teacher: a diffusers FluxPipeline folder.")
    var teacher: String

    @Argument(help: "Destination: the ternary pipeline folder (replaced if it exists).")
    var output: String

    @Option(help: "Calibration prompts, one per line.")
    var prompts: String

    @Option(help: "cpu or cuda.")
    var device: String = "cpu"

    @Option(help: "Work folder (caches, checkpoints, report.json). Default: OUT_DIR.work next to OUT_DIR.")
    var work: String?

    @Option(help: "Packing of the result: i2 or t3.")
    var format: TernaryFormat = .i2

    @Option(help: "Python interpreter (default: $TERNFLUX_PYTHON, else python3 on PATH).")
    var python: String?

    @Option(help: "The distiller script (default: $TERNFLUX_DISTILL_SCRIPT, else ops/distill/distill.py of this checkout).")
    var script: String?

    @Argument(parsing: .allUnrecognized, help: "Stage options passed to the distiller.")
    var stageOptions: [String] = []

    func validate() throws {
        guard device == "cpu" || device == "cuda" else { throw ValidationError("--device must be cpu or cuda, got '\(device)'") }
    }

    func run() throws {
        let fm = FileManager.default
        let env = ProcessInfo.processInfo.environment
        let outURL = URL(fileURLWithPath: output).standardizedFileURL
        let workURL = URL(fileURLWithPath: work ?? outURL.path + ".work").standardizedFileURL
        guard fm.fileExists(atPath: URL(fileURLWithPath: teacher).appendingPathComponent("model_index.json").path) else {
            fail("\(teacher) is not a diffusers pipeline folder (no model_index.json)")
        }
        guard fm.isReadableFile(atPath: prompts) else { fail("--prompts \(prompts): not a readable file") }
        let interpreter = python ?? env["TERNFLUX_PYTHON"] ?? "python3"
        guard let pythonPath = Self.resolveExecutable(interpreter, path: env["PATH"] ?? "") else {
            fail("\(interpreter) not found on PATH. Install Python 3 and the distiller's packages: "
                 + "pip install torch diffusers transformers safetensors tqdm (or pass --python /path/to/python3)")
        }
        guard let scriptPath = script ?? env["TERNFLUX_DISTILL_SCRIPT"] ?? Self.defaultScript() else {
            fail("cannot find ops/distill/distill.py; pass --script PATH or set TERNFLUX_DISTILL_SCRIPT")
        }
        let missing = try Self.missingModules(python: pythonPath)
        if !missing.isEmpty {
            fail("\(pythonPath) lacks the Python packages \(missing.joined(separator: ", ")). Install them with: "
                 + "\(pythonPath) -m pip install torch diffusers transformers safetensors tqdm")
        }
        try fm.createDirectory(at: workURL, withIntermediateDirectories: true)
        let export = workURL.appendingPathComponent("export")
        let arguments = [scriptPath, teacher, export.path, "--prompts", prompts, "--device", device, "--work", workURL.path] + stageOptions
        print("ternflux distill: \(pythonPath) \(arguments.joined(separator: " "))")
        fflush(stdout)
        let start = Date()
        let status = try Self.runInheriting(pythonPath, arguments)
        guard status == 0 else { fail("the distiller exited with status \(status); rerun the same command to resume from \(workURL.path)") }

        let quantizer = CheckpointQuantizer(format: format, force: true) { line, isDetail in if !isDetail { print(line) } }
        let report: QuantizeReport
        do {
            report = try quantizer.run(source: export, destination: outURL)
        } catch {
            fail("packing the export: \(error)")
        }
        let check = try LearnedScaleCheck.compare(checkpoint: outURL.appendingPathComponent("transformer"),
                                                  reference: workURL.appendingPathComponent("trained_scales.safetensors"))
        guard check.ok, report.learnedScales.count == report.quantized.count else {
            fail("learned scales not stored exactly (\(report.learnedScales.count) of \(report.quantized.count) linears had them): "
                 + check.problems.prefix(5).joined(separator: "; "))
        }
        print("packed \(report.quantized.count) ternary linears (\(format.rawValue)); the learned per-row scales of all "
              + "\(check.identical) are bit for bit the trained ones")
        print("wrote \(outURL.path) in \(String(format: "%.0f", Date().timeIntervalSince(start))) s (report: \(workURL.path)/report.json)")
    }

    private func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("ternflux distill: \(message)\n".utf8))
        Foundation.exit(1)
    }

    static func resolveExecutable(_ name: String, path: String) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        for dir in path.split(separator: ":") where !dir.isEmpty {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// ops/distill/distill.py under the current directory, or of the checkout this binary was built in
    /// (.build/<config>/ternflux → three folders up).
    static func defaultScript() -> String? {
        let fm = FileManager.default
        var candidates = [URL(fileURLWithPath: fm.currentDirectoryPath)]
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        for _ in 0..<4 { candidates.append(dir); dir = dir.deletingLastPathComponent() }
        for base in candidates {
            let p = base.appendingPathComponent("ops/distill/distill.py").path
            if fm.fileExists(atPath: p) { return p }
        }
        return nil
    }

    /// The distiller's packages that `python` cannot import.
    static func missingModules(python: String) throws -> [String] {
        let probe = """
        import importlib.util
        print(" ".join(m for m in ("torch", "diffusers", "transformers", "safetensors", "tqdm") if importlib.util.find_spec(m) is None))
        """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = ["-c", probe]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { return ["(\(python) -c failed with status \(p.terminationStatus))"] }
        return String(decoding: data, as: UTF8.self).split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
    }

    static func runInheriting(_ executable: String, _ arguments: [String]) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }
}
