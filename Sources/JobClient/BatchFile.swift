import Foundation
import JobModel
import StrictJSON

/// The formats `ternflux submit` reads.
public enum BatchFileFormat: String, CaseIterable, Sendable {
    /// One JSON object per line: `prompt` required; seed, width, height, steps, guidance, model,
    /// negative_prompt, true_cfg_scale and images optional (`JobParameters.fieldNames`). Other fields and keys
    /// given twice are errors.
    case jsonl
    /// Comma-separated with a header row naming the same fields; `prompt` column required; other columns
    /// and columns named twice are errors.
    case csv
    /// One prompt per line.
    case text

    /// The format implied by a file name, if any.
    public static func fromFileName(_ name: String) -> BatchFileFormat? {
        switch (name as NSString).pathExtension.lowercased() {
        case "jsonl", "ndjson", "json": return .jsonl
        case "csv": return .csv
        case "txt", "text": return .text
        default: return nil
        }
    }

    /// Guesses from the content: a first non-blank line starting with `{` is JSONL, else plain text.
    /// CSV is never guessed (a prompt may contain commas); name it with `--format csv` or a `.csv` file.
    public static func sniff(_ text: String) -> BatchFileFormat {
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            return trimmed.hasPrefix("{") ? .jsonl : .text
        }
        return .text
    }
}

/// One line of a batch file: its number and the job parameters it gives. Settings the line leaves out are
/// nil; the batch's defaults fill them in when the batch is planned.
public struct BatchLine: Sendable, Equatable {
    public var lineNumber: Int
    public var parameters: JobParameters
    /// How many images of this prompt (seeds seed … seed+N−1, one job each); nil: the batch's (default 1).
    public var images: Int?

    public init(lineNumber: Int, parameters: JobParameters, images: Int? = nil) {
        self.lineNumber = lineNumber
        self.parameters = parameters
        self.images = images
    }

    public init(lineNumber: Int, prompt: String, seed: Int64? = nil, width: Int? = nil, height: Int? = nil,
                steps: Int? = nil, guidance: Double? = nil, model: String? = nil) {
        self.init(lineNumber: lineNumber, parameters: JobParameters(prompt: prompt, seed: seed, width: width, height: height,
                                                                    steps: steps, guidance: guidance, model: model))
    }

    public var prompt: String { parameters.prompt }
}

/// Batch settings a JSONL file may carry on its first line, `{"batch": {"name": "...", "webhook_url": "..."}}`
/// (what `--name` and `--webhook-url` set; a flag given on the command line wins).
public struct BatchHeader: Sendable, Equatable {
    public var name: String?
    public var webhookURL: String?

    public init(name: String? = nil, webhookURL: String? = nil) {
        self.name = name
        self.webhookURL = webhookURL
    }

    /// The keys a header may hold.
    public static let fieldNames = ["name", "webhook_url"]
}

/// A parsed batch file: its lines, every error, and the JSONL header line's settings if it has one.
public struct ParsedBatchFile: Sendable {
    public var lines: [BatchLine]
    public var errors: [BatchLineError]
    public var header: BatchHeader?
}

/// A problem with one line of a batch file; all of them are reported before anything is written.
/// Line 0 is the batch itself (its settings: the submit flags, the API's `defaults`).
public struct BatchLineError: Error, Sendable, Equatable, CustomStringConvertible {
    public let lineNumber: Int
    public let message: String

    public init(lineNumber: Int, message: String) {
        self.lineNumber = lineNumber
        self.message = message
    }

    public var description: String { lineNumber == 0 ? "batch: \(message)" : "line \(lineNumber): \(message)" }
}

/// Parses batch files into lines. Syntax errors are collected per line, never thrown one at a time.
///
/// A field the parser does not know (`widht`) is an error naming it and the known ones, unless
/// `allowUnknownFields` (`ternflux submit --allow-unknown-fields`), which ignores such fields and columns. A
/// key given twice in one JSONL line, or a CSV column named twice, is always an error. Numbers are read from
/// their text exactly (`JobLimits.read…`): 2^63 as a seed is refused as out of range, not rounded.
public enum BatchFileParser {
    /// The fields a batch line may set: a job's parameters.
    static let knownFields: Set<String> = Set(JobParameters.fieldNames)

    public static func parse(_ data: Data, format: BatchFileFormat, allowUnknownFields: Bool = false,
                             limits: JobLimits = .standard) -> (lines: [BatchLine], errors: [BatchLineError]) {
        let parsed = parseFile(data, format: format, allowUnknownFields: allowUnknownFields, limits: limits)
        return (parsed.lines, parsed.errors)
    }

    /// `parse`, with the JSONL header line's settings.
    public static func parseFile(_ data: Data, format: BatchFileFormat, allowUnknownFields: Bool = false,
                                 limits: JobLimits = .standard) -> ParsedBatchFile {
        guard let text = String(data: data, encoding: .utf8) else {
            return ParsedBatchFile(lines: [], errors: [firstInvalidUTF8Line(data)], header: nil)
        }
        switch format {
        case .jsonl:
            var header: BatchHeader?
            let (lines, errors) = parseJSONL(text, allowUnknownFields: allowUnknownFields, limits: limits, header: &header)
            return ParsedBatchFile(lines: lines, errors: errors, header: header)
        case .csv:
            let (lines, errors) = parseCSV(text, allowUnknownFields: allowUnknownFields, limits: limits)
            return ParsedBatchFile(lines: lines, errors: errors, header: nil)
        case .text:
            let (lines, errors) = parseText(text)
            return ParsedBatchFile(lines: lines, errors: errors, header: nil)
        }
    }

    /// "unknown field 'widht' (known: prompt, seed, …)"; `noun` is "field" or "column".
    static func unknownMessage(_ names: [String], noun: String) -> String {
        let listed = names.map { "'\(shown($0))'" }.joined(separator: ", ")
        return "unknown \(noun)\(names.count == 1 ? "" : "s") \(listed) (known: \(JobParameters.fieldNames.joined(separator: ", ")))"
    }

    /// "'seed' appears twice", "'seed' appears 3 times".
    public static func appearsMessage(_ name: String, _ count: Int) -> String {
        "'\(shown(name))' appears \(count == 2 ? "twice" : "\(count) times")"
    }

    /// A name from the file as a message shows it: cut short when it is long.
    public static func shown(_ name: String) -> String {
        name.count > 80 ? String(name.prefix(80)) + "…" : name
    }

    /// Finds the line holding the first byte sequence that is not UTF-8, for the error message.
    static func firstInvalidUTF8Line(_ data: Data) -> BatchLineError {
        var line = 1
        var start = data.startIndex
        for i in data.indices where data[i] == 0x0A {
            if String(data: data[start..<i], encoding: .utf8) == nil { break }
            line += 1
            start = data.index(after: i)
        }
        return BatchLineError(lineNumber: line, message: "not valid UTF-8")
    }

    static func splitLines(_ text: String) -> [Substring] {
        // "\r\n" is one Character in Swift, so split on both forms of line end.
        text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
    }

    static func parseText(_ text: String) -> ([BatchLine], [BatchLineError]) {
        var lines: [BatchLine] = []
        for (i, raw) in splitLines(text).enumerated() {
            let prompt = raw.trimmingCharacters(in: .whitespaces)
            if prompt.isEmpty { continue }
            lines.append(BatchLine(lineNumber: i + 1, prompt: prompt))
        }
        return (lines, [])
    }

    static func parseJSONL(_ text: String, allowUnknownFields: Bool = false,
                           limits: JobLimits = .standard) -> ([BatchLine], [BatchLineError]) {
        var header: BatchHeader?
        return parseJSONL(text, allowUnknownFields: allowUnknownFields, limits: limits, header: &header)
    }

    static func parseJSONL(_ text: String, allowUnknownFields: Bool, limits: JobLimits,
                           header: inout BatchHeader?) -> ([BatchLine], [BatchLineError]) {
        var lines: [BatchLine] = []
        var errors: [BatchLineError] = []
        var sawLine = false
        for (i, raw) in splitLines(text).enumerated() {
            let number = i + 1
            let line = i == 0 && raw.hasPrefix("\u{FEFF}") ? raw.dropFirst() : raw
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            let value: StrictJSONValue
            do {
                // Duplicates are kept so they are reported with the line's other problems.
                value = try StrictJSONParser.parse(line, duplicateKeys: .keepAll)
            } catch {
                errors.append(BatchLineError(lineNumber: number, message: "not valid JSON: \(error)"))
                continue
            }
            guard let members = value.members else {
                errors.append(BatchLineError(lineNumber: number, message: "expected a JSON object, got \(value.kindWithArticle)"))
                continue
            }
            defer { sawLine = true }
            if !sawLine, members.count == 1, members[0].key == "batch" {
                switch parseHeader(members[0].value, allowUnknownFields: allowUnknownFields) {
                case .success(let h): header = h
                case .failure(let problem): errors.append(BatchLineError(lineNumber: number, message: problem.message))
                }
                continue
            }
            var problems: [String] = []
            let duplicates = value.duplicateKeys
            for d in duplicates { problems.append(appearsMessage(d.key, d.count)) }
            // A duplicated or mistyped field is reported once, not again as missing or invalid.
            var unreadable = Set(duplicates.map(\.key))
            if !allowUnknownFields {
                var seen = Set<String>()
                let unknown = members.map(\.key).filter { !knownFields.contains($0) && seen.insert($0).inserted }
                if !unknown.isEmpty { problems.append(unknownMessage(unknown, noun: "field")) }
            }
            var fields: [String: String] = [:]
            for (key, v) in members where knownFields.contains(key) && !unreadable.contains(key) {
                switch (key, v) {
                case (_, .null): continue
                case ("prompt", .string(let s)), ("model", .string(let s)), ("negative_prompt", .string(let s)): fields[key] = s
                case ("prompt", _), ("model", _), ("negative_prompt", _):
                    problems.append("\(key): expected a string, got \(v.kindWithArticle)")
                    unreadable.insert(key)
                case (_, .number(let text)): fields[key] = text
                case ("guidance", _), ("true_cfg_scale", _):
                    problems.append("\(key): expected a number, got \(v.kindWithArticle)")
                    unreadable.insert(key)
                default:
                    problems.append("\(key): expected an integer, got \(v.kindWithArticle)")
                    unreadable.insert(key)
                }
            }
            switch makeLine(number, fields, limits: limits, problems: problems, unreadable: unreadable) {
            case .success(let line): lines.append(line)
            case .failure(let error): errors.append(error)
            }
        }
        return (lines, errors)
    }

    /// The value of a first line `{"batch": {...}}`.
    static func parseHeader(_ value: StrictJSONValue, allowUnknownFields: Bool) -> Result<BatchHeader, HeaderProblem> {
        guard let members = value.members else {
            return .failure(HeaderProblem("batch: expected an object of batch settings, got \(value.kindWithArticle)"))
        }
        var problems: [String] = []
        for d in value.duplicateKeys { problems.append("batch." + appearsMessage(d.key, d.count)) }
        var header = BatchHeader()
        for (key, v) in members {
            switch (key, v) {
            case ("name", .string(let s)): header.name = s
            case ("webhook_url", .string(let s)): header.webhookURL = s
            case ("name", .null), ("webhook_url", .null): continue
            case ("name", _), ("webhook_url", _): problems.append("batch.\(key): expected a string, got \(v.kindWithArticle)")
            default:
                if !allowUnknownFields {
                    problems.append("batch: unknown field '\(shown(key))' (known: \(BatchHeader.fieldNames.joined(separator: ", ")))")
                }
            }
        }
        return problems.isEmpty ? .success(header) : .failure(HeaderProblem(problems.joined(separator: "; ")))
    }

    struct HeaderProblem: Error { let message: String; init(_ message: String) { self.message = message } }

    static func parseCSV(_ text: String, allowUnknownFields: Bool = false,
                         limits: JobLimits = .standard) -> ([BatchLine], [BatchLineError]) {
        var records: [(line: Int, fields: [String])] = []
        var errors: [BatchLineError] = []
        var field = ""
        var fields: [String] = []
        var inQuotes = false
        var line = 1, recordLine = 1
        var chars = Array(text.unicodeScalars)
        if chars.first == "\u{FEFF}" { chars.removeFirst() }
        var i = 0
        func endRecord() {
            fields.append(field)
            field = ""
            if !(fields.count == 1 && fields[0].trimmingCharacters(in: .whitespaces).isEmpty) {
                records.append((recordLine, fields))
            }
            fields = []
        }
        while i < chars.count {
            let c = chars[i]
            if inQuotes {
                if c == "\"" {
                    if i + 1 < chars.count && chars[i + 1] == "\"" { field.unicodeScalars.append("\""); i += 1 }
                    else { inQuotes = false }
                } else {
                    if c == "\n" { line += 1 }
                    field.unicodeScalars.append(c)
                }
            } else if c == "\"" && field.isEmpty {
                inQuotes = true
            } else if c == "," {
                fields.append(field); field = ""
            } else if c == "\n" {
                endRecord(); line += 1; recordLine = line
            } else if c == "\r" && i + 1 < chars.count && chars[i + 1] == "\n" {
                // CRLF: the \n ends the record
            } else {
                field.unicodeScalars.append(c)
            }
            i += 1
        }
        if inQuotes {
            errors.append(BatchLineError(lineNumber: recordLine, message: "unterminated quoted field"))
            return ([], errors)
        }
        if !field.isEmpty || !fields.isEmpty { endRecord() }
        guard let header = records.first else {
            return ([], [BatchLineError(lineNumber: 1, message: "CSV file has no header row")])
        }
        let names = header.fields.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard names.contains("prompt") else {
            return ([], [BatchLineError(lineNumber: header.line, message: "CSV header has no 'prompt' column (columns: \(names.joined(separator: ", ")))")])
        }
        var headerProblems: [String] = []
        var counts: [String: Int] = [:]
        for name in names { counts[name, default: 0] += 1 }
        var reported = Set<String>()
        for name in names where counts[name]! > 1 && !name.isEmpty && reported.insert(name).inserted {
            headerProblems.append(appearsMessage(name, counts[name]!))
        }
        let repeated = !headerProblems.isEmpty
        if !allowUnknownFields {
            var seen = Set<String>()
            let unknown = names.filter { !$0.isEmpty && !knownFields.contains($0) && seen.insert($0).inserted }
            if !unknown.isEmpty { headerProblems.append(unknownMessage(unknown, noun: "column")) }
            for (i, name) in names.enumerated() where name.isEmpty { headerProblems.append("column \(i + 1) of the header has no name") }
        }
        if !headerProblems.isEmpty {
            errors.append(BatchLineError(lineNumber: header.line, message: headerProblems.joined(separator: "; ")))
            // With a column named twice it is unclear which one holds the value: the rows are not read.
            if repeated { return ([], errors) }
        }
        var lines: [BatchLine] = []
        for record in records.dropFirst() {
            guard record.fields.count == names.count else {
                errors.append(BatchLineError(lineNumber: record.line, message: "has \(record.fields.count) fields, the header has \(names.count)"))
                continue
            }
            var dict: [String: String] = [:]
            for (name, value) in zip(names, record.fields) where knownFields.contains(name) {
                let trimmed = name == "prompt" || name == "negative_prompt" ? value : value.trimmingCharacters(in: .whitespaces)
                if !trimmed.isEmpty { dict[name] = trimmed }
            }
            switch makeLine(record.line, dict, limits: limits) {
            case .success(let line): lines.append(line)
            case .failure(let error): errors.append(error)
            }
        }
        return (lines, errors)
    }

    /// Builds a line from string-valued fields (numbers as their text), reading the numbers exactly. `problems`
    /// are the line's problems found so far; `unreadable` names fields already reported (duplicated, mistyped),
    /// which are not reported again as missing.
    static func makeLine(_ number: Int, _ fields: [String: String], limits: JobLimits = .standard,
                         problems: [String] = [], unreadable: Set<String> = []) -> Result<BatchLine, BatchLineError> {
        var problems = problems
        var line = BatchLine(lineNumber: number, prompt: fields["prompt"] ?? "")
        if fields["prompt"] == nil && !unreadable.contains("prompt") { problems.append("prompt: is missing") }
        func read<T>(_ key: String, _ reader: (String) -> Result<T, NumberProblem>) -> T? {
            guard let text = fields[key] else { return nil }
            switch reader(text) {
            case .success(let v): return v
            case .failure(let p): problems.append("\(key): \(p.message)"); return nil
            }
        }
        line.parameters.seed = read("seed", limits.readSeed)
        line.parameters.width = read("width", limits.readSide)
        line.parameters.height = read("height", limits.readSide)
        line.parameters.steps = read("steps", limits.readSteps)
        line.parameters.guidance = read("guidance", limits.readGuidance)
        line.parameters.model = fields["model"]
        line.parameters.negativePrompt = fields["negative_prompt"]
        line.parameters.trueCFGScale = read("true_cfg_scale", limits.readTrueCFGScale)
        line.images = read("images", limits.readImages)
        if !problems.isEmpty { return .failure(BatchLineError(lineNumber: number, message: problems.joined(separator: "; "))) }
        return .success(line)
    }
}
