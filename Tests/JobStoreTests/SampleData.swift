import Foundation
import JobModel
@testable import JobStore

/// A small known dataset: one batch of four jobs on worker w1 (three succeeded with total_ms 100, 200,
/// 300; one failed), a second worker w2 with a job stuck running, and — with `fixedTimes` — every
/// timestamp set to a known value so the views' numbers can be computed by hand.
enum SampleData {
    static let batchID = UUID(uuidString: "b0000000-0000-0000-0000-00000000000a")!
    static let jobIDs = (1...4).map { UUID(uuidString: "a0000000-0000-0000-0000-00000000000\($0)")! }
    static let stuckBatchID = UUID(uuidString: "b0000000-0000-0000-0000-00000000000b")!
    static let stuckJobID = UUID(uuidString: "a0000000-0000-0000-0000-000000000009")!

    static func load(into repo: JobRepository, fixedTimes: Bool) throws {
        let w1 = WorkerInfo(id: "w1", host: "node-a", pid: 101, model: "tiny", version: "0.1.0")
        let w2 = WorkerInfo(id: "w2", host: "node-b", pid: 202, model: "tiny", version: "0.1.0")
        try repo.registerWorker(w1)
        try repo.registerWorker(w2)
        let jobs = jobIDs.enumerated().map { i, id in
            NewJob(id: id, line: i + 1, parameters: JobParameters(prompt: "sample prompt \(i + 1)", seed: Int64(i), width: 64, height: 64,
                                                                   steps: 2, guidance: 3.5, model: "tiny",
                                                                   negativePrompt: i == 0 ? "blurry" : nil, trueCFGScale: i == 0 ? 2.5 : nil),
                   maxAttempts: 2)
        }
        // Its webhook gets a (pending) delivery once the last job below fails.
        try repo.createBatch(NewBatch(id: batchID, name: "sample", source: "sample.txt", webhookURL: "https://hooks.example.com/ternflux"),
                             jobs: jobs)
        try repo.markEnqueued(jobIDs)
        for (i, id) in jobIDs.prefix(3).enumerated() {
            _ = try repo.claim(jobID: id, workerID: w1.id)
            let total = Double(i + 1) * 100
            func s(_ ms: Double) -> Double { ms / 1000 }
            let timings = JobTimings(tokenizeEncode: s(total * 0.1), denoiseSteps: [s(total * 0.3), s(total * 0.4)],
                                     vaeDecode: s(total * 0.1), pngEncode: s(total * 0.05), store: s(total * 0.05), total: s(total),
                                     peakRSSBytes: 300 << 20)
            try repo.recordSuccess(jobID: id, workerID: w1.id, output: JobOutput(uri: "file:///out/\(id).png", sha256: String(repeating: "0", count: 63) + "\(i)", bytes: 1000 + Int64(i)), timings: timings)
        }
        _ = try repo.claim(jobID: jobIDs[3], workerID: w1.id)
        try repo.recordFailure(jobID: jobIDs[3], workerID: w1.id, message: "unknown model \"tiny\"", terminal: true)

        try repo.createBatch(NewBatch(id: stuckBatchID, name: "stuck"), jobs: [
            NewJob(id: stuckJobID, parameters: JobParameters(prompt: "stuck", seed: 9, width: 64, height: 64, steps: 2, guidance: 1, model: "tiny")),
        ])
        _ = try repo.claim(jobID: stuckJobID, workerID: w2.id)
        try repo.db.execute("UPDATE workers SET last_heartbeat_at = now() - interval '1 hour' WHERE id = 'w2'")

        guard fixedTimes else { return }
        // T0 = 2026-01-01 00:00:00 UTC. Created T0-1s, enqueued T0, started T0+1s; finished at
        // T0+2s, +4s, +6s (succeeded) and +3s (failed). w1 ran from T0 to its last heartbeat at T0+10s.
        try repo.db.execute("""
            UPDATE jobs SET created_at = '2025-12-31 23:59:59+00', enqueued_at = '2026-01-01 00:00:00+00',
                started_at = '2026-01-01 00:00:01+00',
                finished_at = '2026-01-01 00:00:00+00'::timestamptz + make_interval(secs => CASE line WHEN 1 THEN 2 WHEN 2 THEN 4 WHEN 3 THEN 6 ELSE 3 END)
            WHERE batch_id = $1
            """, [batchID])
        try repo.db.execute("""
            UPDATE workers SET started_at = '2026-01-01 00:00:00+00', last_heartbeat_at = '2026-01-01 00:00:10+00' WHERE id = 'w1'
            """)
    }
}
