import Foundation

/// A malformed line of an eval prompt file.
public struct PromptFileLineError: Error, Sendable, Equatable, CustomStringConvertible {
    public let lineNumber: Int
    public let message: String

    public var description: String { "line \(lineNumber): \(message)" }
}

/// One prompt of an eval prompt file.
public struct EvalPromptLine: Sendable, Equatable {
    public var lineNumber: Int
    public var prompt: EvalPrompt
    /// The text as written (the model is prompted with exactly this).
    public var text: String
}

/// `ternflux eval --prompts FILE`: UTF-8 text, one prompt per line. Blank lines and lines starting with `#` are
/// skipped. A line starting with `{` is a JSON object in the manner of GenEval's metadata files:
/// `{"prompt": "a red circle", "tag": "colors"}`, where the optional `tag` names the category the prompt is
/// meant to test and must agree with what the grammar reads (a prompt outside the grammar may carry any tag:
/// it is scored in `other`). Any other line is the prompt itself.
///
/// A prompt outside the caption grammar is not an error (it is generated and counted as a failure); a line
/// that cannot be read as a prompt is: invalid UTF-8, a control character, JSON that is not an object with a
/// non-empty string `prompt`, an unknown tag or a tag that contradicts the prompt. Every such line is
/// reported, by number, before anything runs.
public enum EvalPromptFile {
    public static func parse(_ data: Data) -> (lines: [EvalPromptLine], errors: [PromptFileLineError]) {
        var lines: [EvalPromptLine] = []
        var errors: [PromptFileLineError] = []
        var rawLines = data.split(separator: 0x0A, omittingEmptySubsequences: false)
        if let first = rawLines.first, first.starts(with: [0xEF, 0xBB, 0xBF]) {
            rawLines[0] = first.dropFirst(3)
        }
        for (index, raw) in rawLines.enumerated() {
            let number = index + 1
            var bytes = raw
            if bytes.last == 0x0D { bytes = bytes.dropLast() }
            guard let text = String(data: Data(bytes), encoding: .utf8) else {
                errors.append(PromptFileLineError(lineNumber: number, message: "not valid UTF-8"))
                continue
            }
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            switch parseLine(trimmed) {
            case .success(let promptText):
                lines.append(EvalPromptLine(lineNumber: number, prompt: EvalPrompt(parsing: promptText), text: promptText))
            case .failure(let message):
                errors.append(PromptFileLineError(lineNumber: number, message: message.text))
            }
        }
        if lines.isEmpty && errors.isEmpty {
            errors.append(PromptFileLineError(lineNumber: max(1, rawLines.count), message: "the file has no prompts"))
        }
        return (lines, errors)
    }

    struct Message: Error { let text: String }

    static func parseLine(_ line: String) -> Result<String, Message> {
        if line.hasPrefix("{") {
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
                return .failure(Message(text: "starts with '{' but is not a JSON object"))
            }
            guard let value = object["prompt"] else { return .failure(Message(text: "JSON object has no 'prompt'")) }
            guard let prompt = value as? String else { return .failure(Message(text: "'prompt' must be a string")) }
            let text = prompt.trimmingCharacters(in: .whitespaces)
            guard !text.isEmpty else { return .failure(Message(text: "'prompt' is empty")) }
            if let bad = controlCharacter(text) { return .failure(Message(text: "'prompt' contains the control character \(bad)")) }
            if let tagValue = object["tag"] {
                guard let tag = tagValue as? String else { return .failure(Message(text: "'tag' must be a string")) }
                guard let category = EvalCategory(rawValue: tag), category != .other else {
                    let names = EvalCategory.grammarCategories.map(\.rawValue).joined(separator: ", ")
                    return .failure(Message(text: "unknown tag '\(tag)' (tags: \(names))"))
                }
                let parsed = EvalPrompt(parsing: text).category
                if parsed != .other && parsed != category {
                    return .failure(Message(text: "tag '\(tag)' but the prompt '\(text)' is a \(parsed.rawValue) prompt"))
                }
            }
            return .success(text)
        }
        if let bad = controlCharacter(line) { return .failure(Message(text: "contains the control character \(bad)")) }
        return .success(line)
    }

    /// The first C0/C1 control character (tab included: a tab-separated file is not a prompt file), as U+XXXX.
    static func controlCharacter(_ text: String) -> String? {
        for scalar in text.unicodeScalars where scalar.properties.generalCategory == .control {
            return String(format: "U+%04X", scalar.value)
        }
        return nil
    }

    /// Reads and parses a file; every malformed line is reported in one error.
    public static func load(_ url: URL) throws -> [EvalPromptLine] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw MiniGenEvalError.unreadable(url.path, error.localizedDescription)
        }
        let (lines, errors) = parse(data)
        if !errors.isEmpty { throw MiniGenEvalError.badPromptFile(url.path, errors) }
        return lines
    }
}
