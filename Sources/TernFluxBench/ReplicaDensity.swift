import Foundation

/// Measures how the memory of N replica processes adds up on one node. Replicas are started one after
/// another (each loads its model, runs its step and prints one JSON line, then waits for its stdin to close);
/// whenever the number of ready replicas reaches one of `counts`, every replica's /proc smaps is read. All
/// replicas are stopped (stdin closed) at the end, or when anything fails.
public struct ReplicaDensity {
    /// The program and arguments of one replica (`ternflux bench replica …`).
    public var executable: URL
    public var arguments: [String]
    /// Replica counts to measure at, ascending (e.g. 1, 2, 4, 8).
    public var counts: [Int]
    /// Folders or files whose mappings are the shared weights.
    public var weightPaths: [String]

    public init(executable: URL, arguments: [String], counts: [Int], weightPaths: [String]) {
        self.executable = executable
        self.arguments = arguments
        self.counts = counts
        self.weightPaths = weightPaths
    }

    /// What a replica printed when it was ready (its own figures) plus its smaps at one measurement.
    public struct Replica: Codable, Sendable {
        public let pid: Int32
        public let ready: [String: Double]
        public let smaps: ProcessSmaps
    }

    public struct Measurement: Codable, Sendable {
        public let replicas: Int
        public let processes: [Replica]
        /// Σ PSS over the replicas: the node's total for them.
        public let nodeTotalPSS: Int
        /// Σ PSS of the weight mappings (≈ the weights' resident bytes, held once).
        public let weightsPSS: Int
        /// Σ (PSS − weights' PSS).
        public let workingPSS: Int
        enum CodingKeys: String, CodingKey {
            case replicas, processes
            case nodeTotalPSS = "node_total_pss"
            case weightsPSS = "weights_pss"
            case workingPSS = "working_pss"
        }
    }

    public func run(log: (String) -> Void = { _ in }) throws -> [Measurement] {
        guard let maxCount = counts.max(), counts.allSatisfy({ $0 >= 1 }), counts == counts.sorted(),
              Set(counts).count == counts.count else {
            throw ProcessSmapsError("replica counts must be distinct, ascending and ≥ 1, got \(counts)")
        }
        var started: [(process: Process, stdin: Pipe, ready: [String: Double])] = []
        defer {
            for r in started { try? r.stdin.fileHandleForWriting.close() }
            for r in started { r.process.waitUntilExit() }
        }
        var results: [Measurement] = []
        for index in 1...maxCount {
            let process = Process()
            process.executableURL = executable
            process.arguments = arguments
            let input = Pipe(), output = Pipe()
            process.standardInput = input
            process.standardOutput = output
            do {
                try process.run()
            } catch {
                throw ProcessSmapsError("cannot start replica \(index) (\(executable.path)): \(error.localizedDescription)")
            }
            let line = Self.readLine(output.fileHandleForReading)
            guard let line, let ready = Self.parseReady(line) else {
                try? input.fileHandleForWriting.close()
                process.waitUntilExit()
                throw ProcessSmapsError("replica \(index) (pid \(process.processIdentifier)) exited with status "
                    + "\(process.terminationStatus) before it was ready; its stdout said: \(line ?? "nothing")")
            }
            started.append((process, input, ready))
            log("replica \(index) ready (pid \(process.processIdentifier)): \(line)")
            guard counts.contains(index) else { continue }
            var replicas: [Replica] = []
            for r in started {
                replicas.append(Replica(pid: r.process.processIdentifier, ready: r.ready,
                                        smaps: try ProcessSmaps.read(pid: r.process.processIdentifier, filesUnder: weightPaths)))
            }
            let total = replicas.reduce(0) { $0 + $1.smaps.pss }
            let weights = replicas.reduce(0) { $0 + $1.smaps.pssOfFiles }
            results.append(Measurement(replicas: index, processes: replicas, nodeTotalPSS: total,
                                       weightsPSS: weights, workingPSS: total - weights))
            log(String(format: "%d replicas: node PSS %.1f MB (weights %.1f MB, working %.1f MB)", index,
                       Double(total) / 1e6, Double(weights) / 1e6, Double(total - weights) / 1e6))
        }
        return results
    }

    /// One line from a pipe (without the newline); nil at end of file before any byte.
    static func readLine(_ handle: FileHandle) -> String? {
        var bytes: [UInt8] = []
        while true {
            let chunk = handle.readData(ofLength: 1)
            guard let b = chunk.first else { return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self) }
            if b == UInt8(ascii: "\n") { return String(decoding: bytes, as: UTF8.self) }
            bytes.append(b)
        }
    }

    /// The ready line is one JSON object of numbers.
    static func parseReady(_ line: String) -> [String: Double]? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
        var out: [String: Double] = [:]
        for (k, v) in object {
            guard let n = v as? NSNumber else { return nil }
            out[k] = n.doubleValue
        }
        return out
    }
}
