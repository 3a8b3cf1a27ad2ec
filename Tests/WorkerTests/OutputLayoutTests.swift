import Foundation
import JobModel
import JobQueue
import XCTest
@testable import Worker

/// Images land at ROOT/BATCH/JOB.png where BATCH and JOB are UUIDs the record parser has already checked,
/// so nothing a job or batch id, prompt or batch name holds can steer a write outside the output root.
final class OutputLayoutTests: XCTestCase {
    func testImagePathStaysUnderRoot() {
        let layout = OutputLayout(root: URL(fileURLWithPath: "/srv/out/../images"))
        let b = UUID(), j = UUID()
        let url = layout.imageURL(batchID: b, jobID: j)
        XCTAssertEqual(url.path, "/srv/images/\(b.uuidString.lowercased())/\(j.uuidString.lowercased()).png")
    }

    func testRootsWithDotsSlashesAndUnicodeStayWhereTheyPoint() {
        let b = UUID(), j = UUID()
        let tail = "\(b.uuidString.lowercased())/\(j.uuidString.lowercased()).png"
        for (root, expected) in [("/srv/a/./b//", "/srv/a/b"), ("/srv/ünïcødé 画像/../出力", "/srv/出力"), ("/", "")] {
            XCTAssertEqual(OutputLayout(root: URL(fileURLWithPath: root)).imageURL(batchID: b, jobID: j).path, expected + "/" + tail, root)
        }
    }

    static let hostileIDs: [String] = [
        "..", "../../etc/passwd", "/etc/passwd", "/", "a/b", "..\\..\\windows", "x\u{0}y", "\u{0}",
        "3f2504e0-4f89-11d3-9a0c-0305e82c3301/../../x", "../3f2504e0-4f89-11d3-9a0c-0305e82c330",
        "3f2504e0-4f89-11d3-9a0c-0305e82c3301\u{0}", " 3f2504e0-4f89-11d3-9a0c-0305e82c3301",
        "３f2504e0-4f89-11d3-9a0c-0305e82c3301", // full-width digit
        "3f2504e0\u{2215}4f89-11d3-9a0c-0305e82c33", // division slash
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "file:///etc/passwd", "~root", "",
        String(repeating: "a", count: 10_000), String(repeating: "../", count: 5_000),
    ]

    /// A hostile job id cannot be read at all (the record is dead-lettered); a hostile batch id fails the
    /// job with a message naming the field. Either way no path is ever built from it.
    func testHostileIdsNeverBecomePaths() throws {
        let goodJob = "3f2504e0-4f89-11d3-9a0c-0305e82c3301", goodBatch = "9b2c1d4e-0000-4000-8000-000000000001"
        func record(job: String, batch: String) throws -> [UInt8] {
            let fields: [String: Any] = ["v": 1, "job_id": job, "batch_id": batch, "prompt": "a fox", "seed": 1, "width": 128,
                                         "height": 128, "steps": 4, "guidance": 3.5, "model": "default"]
            return Array(try JSONSerialization.data(withJSONObject: fields))
        }
        for hostile in Self.hostileIDs {
            XCTAssertThrowsError(try JobMessage.parse(value: try record(job: hostile, batch: goodBatch)), hostile) { error in
                XCTAssertNil((error as? JobMessageError)?.jobID, "job id \(hostile.debugDescription) was read")
            }
            // The key is the other place a job id comes from.
            XCTAssertThrowsError(try JobMessage.parse(value: Array("{".utf8), key: Array(hostile.utf8)), hostile)
            XCTAssertThrowsError(try JobMessage.parse(value: try record(job: goodJob, batch: hostile)), hostile) { error in
                guard case .invalid(_, let problems)? = error as? JobMessageError else { return XCTFail("\(error)") }
                XCTAssertEqual(problems.map(\.field), ["batch_id"], hostile)
            }
        }
        // Upper-case spellings are the same job and the same (lower-case) path.
        let upper = try JobMessage.parse(value: try record(job: goodJob.uppercased(), batch: goodBatch.uppercased()))
        let url = OutputLayout(root: URL(fileURLWithPath: "/srv/out")).imageURL(batchID: upper.batchID, jobID: upper.jobID)
        XCTAssertEqual(url.path, "/srv/out/\(goodBatch)/\(goodJob).png")
    }

    /// Any two UUIDs give a file exactly two levels under the root.
    func testEveryImagePathIsAGrandchildOfTheRoot() {
        let root = URL(fileURLWithPath: "/srv/out")
        let layout = OutputLayout(root: root)
        for _ in 0..<1_000 {
            let url = layout.imageURL(batchID: UUID(), jobID: UUID())
            XCTAssertEqual(url.deletingLastPathComponent().deletingLastPathComponent().path, root.path)
            XCTAssertEqual(url.pathComponents.count, root.pathComponents.count + 2)
        }
    }

    private func temporaryRoot() throws -> URL {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("layout-\(UUID())")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: base) }
        return base
    }

    /// A batch directory replaced by a link to elsewhere is refused; nothing is written where it points.
    func testSymlinkedBatchDirectoryIsRefused() throws {
        let base = try temporaryRoot()
        let root = base.appendingPathComponent("out"), elsewhere = base.appendingPathComponent("elsewhere")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: true)
        let batch = UUID()
        try FileManager.default.createSymbolicLink(at: root.appendingPathComponent(batch.uuidString.lowercased()), withDestinationURL: elsewhere)
        XCTAssertThrowsError(try ImageStore(root: root).store(png: [1, 2, 3], batchID: batch, jobID: UUID())) { error in
            XCTAssertTrue("\(error)".contains("symbolic link"), "\(error)")
            XCTAssertTrue("\(error)".contains("output root"), "\(error)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: elsewhere.path), [])
    }

    /// A link planted at the temporary name is not followed either.
    func testSymlinkAtTheTemporaryNameIsNotFollowed() throws {
        let base = try temporaryRoot()
        let root = base.appendingPathComponent("out"), target = base.appendingPathComponent("victim")
        try Data("keep".utf8).write(to: target)
        let batch = UUID(), job = UUID()
        let directory = root.appendingPathComponent(batch.uuidString.lowercased())
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let temporary = directory.appendingPathComponent("\(ImageStore.temporaryPrefix)\(getpid())-\(job.uuidString.lowercased()).png")
        try FileManager.default.createSymbolicLink(at: temporary, withDestinationURL: target)
        XCTAssertThrowsError(try ImageStore(root: root).store(png: [1, 2, 3], batchID: batch, jobID: job)) { error in
            XCTAssertTrue("\(error)".contains("symbolic link"), "\(error)")
        }
        XCTAssertEqual(try String(contentsOf: target, encoding: .utf8), "keep")
    }
}
