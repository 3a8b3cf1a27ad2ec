import ArgumentParser
import Foundation
import JobQueue
import JobClient
import JobModel
import JobStore

struct SubmitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Submit a batch of prompts: JSONL, CSV with a header, or plain text (one prompt per line).",
        discussion: """
        Every line is validated first; all errors are reported with their line numbers and nothing is written.
        The batch and its jobs go into PostgreSQL in one transaction, then to Kafka, then are marked enqueued.
        Prints the batch id. Seeds default to a deterministic function of the batch id and the line number; width,
        height, steps and guidance that neither a line nor a flag sets are the model's (the worker fills them in
        from its generation_defaults.json when it takes the job).
        """
    )

    @Argument(help: "Batch file, or - for standard input.")
    var file: String

    @Option(help: "Input format (default: from the file extension, else JSONL when the first line is a JSON object, else text).")
    var format: BatchFileFormat?

    @Option(help: "Image width of lines without one (default: the model's, from its generation_defaults.json).") var width: Int?
    @Option(help: "Image height of lines without one (default: the model's).") var height: Int?
    @Option(help: "Denoising steps of lines without them (default: the model's).") var steps: Int?
    @Option(help: "Guidance of lines without one (default: the model's).") var guidance: Double?
    @Option(help: "Model name of lines without one.") var model = JobSettings.defaultModel
    @Option(help: "Seed for every line without one (default: derived from batch id and line).") var seed: Int64?
    @Option(name: .customLong("negative-prompt"), help: "Negative prompt of lines without one, for classifier-free guidance (default: the model's).")
    var negativePrompt: String?
    @Option(name: .customLong("true-cfg-scale"), help: "Classifier-free guidance scale of lines without one; 1 is none (default: the model's).")
    var trueCFGScale: Double?
    @Option(help: "Images of each line without its own `images` (seeds seed … seed+N−1, one job each).") var images = 1
    @Option(name: .customLong("webhook-url"), help: ArgumentHelp("POST the batch summary here once every job is finished (signed; retried until a 2xx).", valueName: "url"))
    var webhookURL: String?
    @Option(name: .customLong("max-attempts"), help: "Attempts per job before it fails for good.") var maxAttempts = 3
    @Option(help: "A name for the batch (shown by status and in SQL).") var name: String?
    @Flag(help: "Show live progress until the batch finishes.") var wait = false
    @Flag(name: .customLong("allow-unknown-fields"), help: "Ignore JSONL fields and CSV columns that are not job fields (\(JobParameters.fieldNames.joined(separator: ", "))) instead of refusing the file; a key given twice is refused either way.")
    var allowUnknownFields = false
    @Option(name: .customLong("batch-key"), help: ArgumentHelp("An idempotency key for this batch: submitting again with the same key and the same input writes nothing new (it only produces jobs an earlier submit could not get to Kafka) and prints the first batch's id; the same key with other input is refused.", valueName: "key"))
    var batchKey: String?

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var kafka: KafkaOptions

    func run() throws {
        let (data, fileName) = try readInput()
        let defaults = JobSettings(seed: seed, width: width, height: height, steps: steps, guidance: guidance, model: model,
                                   negativePrompt: negativePrompt, trueCFGScale: trueCFGScale)
        let request = BatchRequest(data: data, format: format, fileName: fileName, defaults: defaults, images: images,
                                   allowUnknownFields: allowUnknownFields, maxAttempts: maxAttempts, name: name,
                                   webhookURL: webhookURL)
        let intaken: IntakenBatch
        switch BatchIntake.intake(request) {
        case .success(let p): intaken = p
        case .failure(let errors):
            if errors.errors == [BatchIntake.noPrompts] { throw SubmitFailure("\(fileName): \(BatchIntake.noPrompts.message)") }
            throw SubmitFailure(errors.description)
        }

        let kafkaSettings = try kafka.settings()
        let repository = try JobRepository(settings: database.settings())
        let submitter = BatchSubmitter(repository: repository, producer: try KafkaProducer(configuration: KafkaProducerConfiguration(settings: kafkaSettings, clientID: "ternflux-submit")))
        let started = Date()
        let plan = intaken.plan
        let batchName = intaken.name ?? (fileName == "-" ? "stdin" : (fileName as NSString).lastPathComponent)
        var batchID = plan.batchID
        do {
            if let batchKey {
                switch try submitter.submit(plan, name: batchName, source: fileName, maxAttempts: maxAttempts, batchKey: batchKey,
                                            digest: request.digest, webhookURL: intaken.webhookURL) {
                case .submitted:
                    reportSubmitted(plan.jobs.count, since: started)
                case .alreadySubmitted(let id, let produced):
                    batchID = id
                    FileHandle.standardError.write(Data(("batch key '\(batchKey)' was submitted before as this batch; nothing new "
                        + "was written" + (produced > 0 ? ", and its \(produced) jobs that had not reached Kafka were produced now" : "")
                        + "\n").utf8))
                }
            } else {
                try submitter.submit(plan, name: batchName, source: fileName, maxAttempts: maxAttempts, webhookURL: intaken.webhookURL)
                reportSubmitted(plan.jobs.count, since: started)
            }
        } catch let error as SubmitError {
            // The batch id still goes to stdout (scripts read it there); the error says how to finish the batch.
            if case .notEnqueued(let id, _) = error { print(id.uuidString.lowercased()) }
            throw SubmitFailure(error.description)
        }
        print(batchID.uuidString.lowercased())
        if wait {
            try ProgressWatcher(repository: repository).watch(batchID: batchID)
        }
    }

    func reportSubmitted(_ count: Int, since started: Date) {
        let seconds = Date().timeIntervalSince(started)
        FileHandle.standardError.write(Data(String(format: "submitted %d jobs in %.2f s (%.0f jobs/s)\n",
                                                   count, seconds, Double(count) / max(seconds, 1e-9)).utf8))
    }

    func readInput() throws -> (Data, String) {
        if file == "-" { return (FileHandle.standardInput.readDataToEndOfFile(), "-") }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory) else {
            throw SubmitFailure("cannot read batch file \(file): no such file")
        }
        if isDirectory.boolValue { throw SubmitFailure("cannot read batch file \(file): it is a directory, not a file") }
        guard FileManager.default.isReadableFile(atPath: file) else {
            throw SubmitFailure("cannot read batch file \(file): permission denied")
        }
        do {
            return (try Data(contentsOf: URL(fileURLWithPath: file)), file)
        } catch {
            throw SubmitFailure("cannot read batch file \(file): \((error as NSError).localizedFailureReason ?? error.localizedDescription)")
        }
    }
}

extension BatchFileFormat: ExpressibleByArgument {}

struct SubmitFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
