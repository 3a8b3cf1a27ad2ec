import Foundation
import JobModel
import TernaryTensors
import XCTest

/// The single-file fixtures (Tests/Fixtures/bfl, made by ops/fixtures/bfl_fix.py) and the built `ternflux`
/// binary the convert / quantize tests run.
enum BFLFixtures {
    static let root = FluxFixtures.url("bfl")
    static func source(_ name: String) -> URL { root.appendingPathComponent("\(name).safetensors") }
    static func expected(_ name: String) -> URL { root.appendingPathComponent("expected/\(name)") }
    static let binary = FluxFixtures.root.deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".build/debug/ternflux")

    /// The flags each fixture needs (its sizes are not FLUX.1's): the manifest's `convert_flags`.
    static func flags(_ name: String) throws -> [String] { try manifest(name).flags }

    struct Manifest {
        struct Component {
            let config: [String: Any]
            /// name → (dtype, shape, SHA-256 of the bytes)
            let tensors: [String: Digest]
        }
        let flags: [String]
        let components: [String: Component]
    }

    static func manifest(_ name: String) throws -> Manifest {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: expected("\(name).json"))) as! [String: Any]
        var components: [String: Manifest.Component] = [:]
        for (folder, value) in json["components"] as! [String: Any] {
            let c = value as! [String: Any]
            var tensors: [String: Digest] = [:]
            for row in c["tensors"] as! [[Any]] {
                tensors[row[0] as! String] = Digest(dtype: row[1] as! String, shape: row[2] as! [Int], sha256: row[3] as! String)
            }
            components[folder] = .init(config: c["config"] as! [String: Any], tensors: tensors)
        }
        return Manifest(flags: json["convert_flags"] as! [String], components: components)
    }
}

struct Digest: Equatable, CustomStringConvertible {
    let dtype: String
    let shape: [Int]
    let sha256: String
    var description: String { "\(dtype) \(shape) \(sha256.prefix(12))…" }
}

/// name → digest of every tensor of a safetensors file (read through the product reader).
func tensorDigests(_ url: URL) throws -> [String: Digest] {
    let file = try SafeTensorsFile(url: url)
    var out: [String: Digest] = [:]
    for name in file.tensorNames {
        let info = try file.info(name)
        var h = SHA256()
        h.update(raw: try file.bytes(name))
        out[name] = Digest(dtype: info.dtype.rawValue, shape: info.shape, sha256: SHA256.hex(h.finalize()))
    }
    return out
}

func jsonObject(_ url: URL) throws -> [String: Any] {
    try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
}

/// Runs the built binary; skips the test when it has not been built (`swift build --build-tests` builds it).
func runTernflux(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    guard FileManager.default.isExecutableFile(atPath: BFLFixtures.binary.path) else {
        throw XCTSkip("\(BFLFixtures.binary.path) is not built")
    }
    let process = Process()
    process.executableURL = BFLFixtures.binary
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return (process.terminationStatus, stdout, stderr)
}

/// A fresh empty folder for one test, removed afterwards.
func makeScratchFolder(_ test: XCTestCase) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("ternflux-convert-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}

/// Every file under `root` as relative path → bytes.
func treeContents(_ root: URL) throws -> [String: Data] {
    var out: [String: Data] = [:]
    let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey])!
    for case let url as URL in enumerator {
        guard try url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile == true else { continue }
        out[String(url.path.dropFirst(root.path.count + 1))] = try Data(contentsOf: url)
    }
    return out
}

/// Rewrites a fixture with some tensors dropped, replaced or added (for the bad-input tests).
func writeEdited(_ source: URL, to url: URL, drop: Set<String> = [], replace: [String: TensorInfo] = [:],
                 add: [(TensorInfo, [UInt8])] = []) throws {
    let file = try SafeTensorsFile(url: source)
    var tensors: [(info: TensorInfo, data: [UInt8])] = []
    for name in file.tensorNames where !drop.contains(name) {
        if let info = replace[name] {
            tensors.append((info, [UInt8](repeating: 0x3c, count: info.byteCount!)))
        } else {
            tensors.append((try file.info(name), try file.data(name)))
        }
    }
    tensors += add.map { ($0.0, $0.1) }
    try SafeTensorsWriter.write(url: url, tensors: tensors)
}
