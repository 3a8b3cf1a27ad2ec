import Foundation
import JobModel

/// The formats `ternflux submit` reads.
public enum BatchFileFormat: String, CaseIterable, Sendable {
    /// One JSON object per line: `prompt` required; seed, width, height, steps, guidance, model optional.
    case jsonl
    /// Comma-separated with a header row naming the same fields; `prompt` column required.
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

    public init(lineNumber: Int, parameters: JobParameters) {
        self.lineNumber = lineNumber
        self.parameters = parameters
    }

    public init(lineNumber: Int, prompt: String, seed: Int64? = nil, width: Int? = nil, height: Int? = nil,
                steps: Int? = nil, guidance: Double? = nil, model: String? = nil) {
        self.init(lineNumber: lineNumber, parameters: JobParameters(prompt: prompt, seed: seed, width: width, height: height,
                                                                    steps: steps, guidance: guidance, model: model))
    }

    public var prompt: String { parameters.prompt }
}

/// A problem with one line of a batch file; all of them are reported before anything is written.
public struct BatchLineError: Error, Sendable, Equatable, CustomStringConvertible {
    public let lineNumber: Int
    public let message: String

    public var description: String { "line \(lineNumber): \(message)" }
}

/// Parses batch files into lines. Syntax errors are collected per line, never thrown one at a time.
public enum BatchFileParser {
    static let knownFields: Set<String> = ["prompt", "seed", "width", "height", "steps", "guidance", "model"]

    public static func parse(_ data: Data, format: BatchFileFormat) -> (lines: [BatchLine], errors: [BatchLineError]) {
        guard let text = String(data: data, encoding: .utf8) else {
            return ([], [firstInvalidUTF8Line(data)])
        }
        switch format {
        case .jsonl: return parseJSONL(text)
        case .csv: return parseCSV(text)
        case .text: return parseText(text)
        }
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

    static func parseJSONL(_ text: String) -> ([BatchLine], [BatchLineError]) {
        var lines: [BatchLine] = []
        var errors: [BatchLineError] = []
        for (i, raw) in splitLines(text).enumerated() {
            let number = i + 1
            if raw.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            guard let object = try? JSONDecoder().decode([String: JSONScalar].self, from: Data(raw.utf8)) else {
                errors.append(BatchLineError(lineNumber: number, message: "not a JSON object"))
                continue
            }
            var fields: [String: String] = [:]
            var lineErrors: [String] = []
            for key in object.keys.sorted() where knownFields.contains(key) {
                switch (key, object[key]!) {
                case (_, .null): continue
                case ("prompt", .string(let s)), ("model", .string(let s)): fields[key] = s
                case ("prompt", _), ("model", _): lineErrors.append("'\(key)' must be a string")
                case (_, .number(let text)): fields[key] = text
                default: lineErrors.append("'\(key)' must be a number")
                }
            }
            switch makeLine(number, fields) {
            case .success(let line) where lineErrors.isEmpty:
                lines.append(line)
            case .success:
                errors.append(BatchLineError(lineNumber: number, message: lineErrors.joined(separator: "; ")))
            case .failure(let error):
                errors.append(BatchLineError(lineNumber: number, message: (lineErrors + [error.message]).joined(separator: "; ")))
            }
        }
        return (lines, errors)
    }

    static func parseCSV(_ text: String) -> ([BatchLine], [BatchLineError]) {
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
        var lines: [BatchLine] = []
        for record in records.dropFirst() {
            guard record.fields.count == names.count else {
                errors.append(BatchLineError(lineNumber: record.line, message: "has \(record.fields.count) fields, the header has \(names.count)"))
                continue
            }
            var dict: [String: String] = [:]
            for (name, value) in zip(names, record.fields) where knownFields.contains(name) {
                let trimmed = name == "prompt" ? value : value.trimmingCharacters(in: .whitespaces)
                if !trimmed.isEmpty { dict[name] = trimmed }
            }
            switch makeLine(record.line, dict) {
            case .success(let line): lines.append(line)
            case .failure(let error): errors.append(error)
            }
        }
        return (lines, errors)
    }

    /// Builds a line from string-valued fields, checking that numbers are numbers.
    static func makeLine(_ number: Int, _ fields: [String: String]) -> Result<BatchLine, BatchLineError> {
        var problems: [String] = []
        guard let prompt = fields["prompt"] else {
            return .failure(BatchLineError(lineNumber: number, message: "missing 'prompt'"))
        }
        var line = BatchLine(lineNumber: number, prompt: prompt)
        func integer(_ key: String) -> Int64? {
            guard let s = fields[key] else { return nil }
            if let v = Int64(s) { return v }
            if let d = Double(s), d.rounded() == d, abs(d) < 9.0e15 { return Int64(d) }
            problems.append("'\(key)' must be an integer, got '\(s)'")
            return nil
        }
        line.parameters.seed = integer("seed")
        line.parameters.width = integer("width").map { Int(clamping: $0) }
        line.parameters.height = integer("height").map { Int(clamping: $0) }
        line.parameters.steps = integer("steps").map { Int(clamping: $0) }
        if let g = fields["guidance"] {
            if let v = Double(g), v.isFinite { line.parameters.guidance = v } else { problems.append("'guidance' must be a number, got '\(g)'") }
        }
        line.parameters.model = fields["model"]
        if !problems.isEmpty { return .failure(BatchLineError(lineNumber: number, message: problems.joined(separator: "; "))) }
        return .success(line)
    }
}

/// A JSON value as far as batch lines care: numbers keep their source text so integers stay exact.
enum JSONScalar: Decodable {
    case string(String), number(String), bool(Bool), null, other

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int64.self) { self = .number(String(i)) }
        else if let d = try? c.decode(Double.self) { self = .number(String(d)) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else { self = .other }
    }
}
