import Foundation
import JobModel
import JobStore
import XCTest

/// `GET /v1/jobs/{id}/image` serves only `ROOT/BATCH/JOB.png` under the server's output root: never the path a
/// row records, never through a symbolic link.
final class ImageSafetyTests: XCTestCase {
    var harness: APIHarness!
    var outside: URL!

    override func setUpWithError() throws {
        harness = try APIHarness()
        outside = FileManager.default.temporaryDirectory.appendingPathComponent("ternflux-outside-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
    }

    override func tearDown() {
        harness = nil
        try? FileManager.default.removeItem(at: outside)
    }

    /// A batch with one job whose row says it succeeded with its image at `uri`.
    func succeededJob(uri: String) throws -> (batch: UUID, job: UUID) {
        let batch = UUID(), job = UUID()
        try harness.repository.createBatch(NewBatch(id: batch, name: "planted"),
                                           jobs: [NewJob(id: job, line: 1, parameters: JobParameters(prompt: "p", seed: 1, model: "default"))])
        try harness.repository.db.execute("""
            UPDATE jobs SET state = 'succeeded', attempt = 1, started_at = now(), finished_at = now(), worker_id = 'planted',
                width = 16, height = 16, steps = 1, guidance = 0, output_uri = $2, sha256 = $3, bytes = 4
            WHERE id = $1
            """, [job, uri, String(repeating: "a", count: 64)])
        return (batch, job)
    }

    func path(_ batch: UUID, _ job: UUID) -> URL {
        harness.output.appendingPathComponent(batch.uuidString.lowercased()).appendingPathComponent(job.uuidString.lowercased() + ".png")
    }

    func image(_ job: UUID) throws -> TestHTTPClient.Response {
        try harness.client.get("/v1/jobs/\(job.uuidString.lowercased())/image")
    }

    func testARowPointingOutsideTheRootIsNotServed() throws {
        let secret = outside.appendingPathComponent("secret.png")
        try Data("SECRET".utf8).write(to: secret)
        for uri in [secret.path, "file://" + secret.path, harness.output.path + "/../" + secret.lastPathComponent, "/etc/passwd"] {
            let (_, job) = try succeededJob(uri: uri)
            let response = try image(job)
            XCTAssertEqual(response.status, 404, "\(uri): \(response)")
            XCTAssertFalse(response.text.contains("SECRET"), uri)
            XCTAssertTrue(response.errorMessage.contains("not in this server's output folder"), response.description)
        }
    }

    func testTheLayoutPathIsServedWhateverTheRowSays() throws {
        let (batch, job) = try succeededJob(uri: "/somewhere/else.png")
        try FileManager.default.createDirectory(at: path(batch, job).deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data("PNG-ish".utf8).write(to: path(batch, job))
        let response = try image(job)
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.text, "PNG-ish")
    }

    func testSymbolicLinksUnderTheRootAreNotFollowed() throws {
        let secret = outside.appendingPathComponent("secret.png")
        try Data("SECRET".utf8).write(to: secret)
        // The file itself a link to a file outside.
        let (batch, job) = try succeededJob(uri: "x")
        try FileManager.default.createDirectory(at: path(batch, job).deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: path(batch, job), withDestinationURL: secret)
        XCTAssertEqual(try image(job).status, 404)
        // The batch folder a link to a folder outside holding a file of the right name.
        let (batch2, job2) = try succeededJob(uri: "x")
        try Data("SECRET".utf8).write(to: outside.appendingPathComponent(job2.uuidString.lowercased() + ".png"))
        try FileManager.default.createSymbolicLink(at: path(batch2, job2).deletingLastPathComponent(), withDestinationURL: outside)
        let response = try image(job2)
        XCTAssertEqual(response.status, 404)
        XCTAssertFalse(response.text.contains("SECRET"))
        // Not a plain file: a folder (or a FIFO, which must not block the server) in the image's place.
        let (batch3, job3) = try succeededJob(uri: "x")
        try FileManager.default.createDirectory(at: path(batch3, job3), withIntermediateDirectories: true)
        XCTAssertEqual(try image(job3).status, 404)
        let (batch4, job4) = try succeededJob(uri: "x")
        try FileManager.default.createDirectory(at: path(batch4, job4).deletingLastPathComponent(), withIntermediateDirectories: true)
        XCTAssertEqual(mkfifo(path(batch4, job4).path, 0o644), 0)
        XCTAssertEqual(try image(job4).status, 404)
    }

    func testARootThatIsALinkIsResolvedOnce() throws {
        // The operator's --output may itself be a link; that one is followed.
        let real = outside.appendingPathComponent("real-root")
        try FileManager.default.createDirectory(at: real, withIntermediateDirectories: true)
        let link = outside.appendingPathComponent("root-link")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: real)
        harness.stopServer()
        let root = link
        let linked = try APIHarness(start: false) { $0.outputRoot = root }
        try linked.startServer()
        let batch = UUID(), job = UUID()
        try linked.repository.createBatch(NewBatch(id: batch), jobs: [NewJob(id: job, parameters: JobParameters(prompt: "p", seed: 1, model: "default"))])
        try linked.repository.db.execute("""
            UPDATE jobs SET state = 'succeeded', attempt = 1, started_at = now(), finished_at = now(), worker_id = 'w', width = 16,
                height = 16, steps = 1, guidance = 0, output_uri = 'x', sha256 = $2, bytes = 1 WHERE id = $1
            """, [job, String(repeating: "b", count: 64)])
        let folder = real.appendingPathComponent(batch.uuidString.lowercased())
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data("via the root link".utf8).write(to: folder.appendingPathComponent(job.uuidString.lowercased() + ".png"))
        let response = try linked.client.get("/v1/jobs/\(job.uuidString.lowercased())/image")
        XCTAssertEqual(response.status, 200, response.description)
        XCTAssertEqual(response.text, "via the root link")
    }
}
