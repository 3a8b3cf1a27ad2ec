import ArgumentParser
import FluxModel
import Foundation
import JobModel

/// `ternflux inspect IMAGE.png`: how an image was made, from the metadata every TernFlux PNG carries (the
/// A1111 `parameters` text and the `ternflux` JSON document; `GenerationMetadata`).
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Print the generation metadata of a TernFlux PNG (prompt, seed, settings, model, job and batch).")

    @Argument(help: "A PNG written by a worker or by `ternflux generate`.") var image: String
    @Flag(help: "Print one JSON object: {\"parameters\": the A1111 text, \"ternflux\": the document, \"text\": any other text chunks}.")
    var json = false

    func run() throws {
        let bytes: [UInt8]
        do {
            bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: image)))
        } catch {
            var isDirectory: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: image, isDirectory: &isDirectory)
            throw InspectFailure("cannot read \(image): \(!exists ? "no such file" : isDirectory.boolValue ? "it is a directory" : "permission denied")")
        }
        let chunks: [PNGTextChunk]
        do { chunks = try PNGTextChunk.read(fromPNG: bytes) } catch { throw InspectFailure("\(image): \(error)") }
        let parameters = chunks.first { $0.keyword == GenerationMetadata.parametersKeyword }?.text
        let document = chunks.first { $0.keyword == GenerationMetadata.jsonKeyword }?.text
        guard parameters != nil || document != nil else {
            throw InspectFailure("\(image) has no generation metadata (no '\(GenerationMetadata.parametersKeyword)' or "
                + "'\(GenerationMetadata.jsonKeyword)' text chunk)")
        }
        var metadata: GenerationMetadata?
        if let document {
            do { metadata = try JSONDecoder().decode(GenerationMetadata.self, from: Data(document.utf8)) } catch {
                throw InspectFailure("\(image): its '\(GenerationMetadata.jsonKeyword)' chunk is not a TernFlux metadata document")
            }
        }
        if json {
            let others = chunks.filter { ![GenerationMetadata.parametersKeyword, GenerationMetadata.jsonKeyword].contains($0.keyword) }
            var object: [String: Any] = ["text": Dictionary(others.map { ($0.keyword, $0.text) }, uniquingKeysWith: { first, _ in first })]
            if let parameters { object["parameters"] = parameters }
            if let document { object["ternflux"] = try JSONSerialization.jsonObject(with: Data(document.utf8)) }
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        if let parameters { print(parameters) }
        if let m = metadata {
            if parameters != nil { print("") }
            let rows: [(String, String?)] = [
                ("job", m.jobID), ("batch", m.batchID), ("model", m.model), ("model sha256", m.modelSHA256), ("prompt", m.prompt),
                ("negative prompt", m.negativePrompt), ("seed", String(m.seed)), ("size", "\(m.width)x\(m.height)"),
                ("steps", String(m.steps)), ("guidance", "\(m.guidance)"), ("true CFG scale", "\(m.trueCFGScale)"),
                ("sampler", m.sampler), ("TernFlux", m.ternfluxVersion),
            ]
            for (name, value) in rows { if let value { print("\(name.padding(toLength: 16, withPad: " ", startingAt: 0))\(value)") } }
        }
    }
}

struct InspectFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
