import Foundation

/// Where a job's image goes under the output root: `BATCH/JOB.png`. Batch and job ids are UUIDs,
/// checked here, so no job or batch name can make a path that escapes the output root.
public struct OutputLayout: Sendable {
    public let root: URL

    public init(root: URL) {
        self.root = root.standardizedFileURL
    }

    public func imageURL(batchID: UUID, jobID: UUID) -> URL {
        root.appendingPathComponent(batchID.uuidString.lowercased(), isDirectory: true)
            .appendingPathComponent(jobID.uuidString.lowercased() + ".png")
    }
}
