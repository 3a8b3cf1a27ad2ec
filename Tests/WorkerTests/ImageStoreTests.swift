import XCTest
import Foundation
import FluxModel
import JobModel
@testable import Worker

final class ImageStoreTests: XCTestCase {
    func testSHA256KnownVectors() {
        XCTAssertEqual(SHA256.hexDigest([UInt8]()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hexDigest(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hexDigest(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(SHA256.hexDigest([UInt8](repeating: 0x61, count: 1_000)),
                       "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }

    func testStoreWritesAtomicallyUnderBatchFolder() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("imagestore-\(UUID())")
        defer { try? FileManager.default.removeItem(at: root) }
        let store = ImageStore(root: root)
        let batch = UUID(), job = UUID()
        let bytes: [UInt8] = Array("not really a png".utf8)
        let stored = try store.store(png: bytes, batchID: batch, jobID: job)
        XCTAssertEqual(stored.bytes, bytes.count)
        XCTAssertEqual(stored.sha256, SHA256.hexDigest(bytes))
        XCTAssertEqual(try Data(contentsOf: stored.url), Data(bytes))
        let files = try FileManager.default.contentsOfDirectory(atPath: stored.url.deletingLastPathComponent().path)
        XCTAssertEqual(files, ["\(job.uuidString.lowercased()).png"])
    }

    /// Pixels in, the PNG the encoder makes of them out, with both halves timed.
    func testStoreEncodesPixelsAsPNG() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("imagestore-\(UUID())")
        defer { try? FileManager.default.removeItem(at: root) }
        let image = RGBImage(width: 4, height: 2, rgb: (0..<24).map { UInt8($0 * 10) })
        let encoded = try ImageStore(root: root).store(image, batchID: UUID(), jobID: UUID())
        let png = try image.png()
        XCTAssertEqual(try Data(contentsOf: encoded.stored.url), Data(png))
        XCTAssertEqual(encoded.stored.sha256, SHA256.hexDigest(png))
        XCTAssertEqual(encoded.stored.bytes, png.count)
        XCTAssertGreaterThanOrEqual(encoded.pngEncodeSeconds, 0)
        XCTAssertGreaterThanOrEqual(encoded.storeSeconds, 0)
    }

    func testOrphanedTemporariesOfDeadProcessesAreRemoved() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("imagestore-\(UUID())")
        defer { try? FileManager.default.removeItem(at: root) }
        let dir = root.appendingPathComponent(UUID().uuidString.lowercased())
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        // pid 2^22+1 is above Linux's pid_max default range and cannot be alive.
        try Data([1]).write(to: dir.appendingPathComponent(".partial-4194305-x.png"))
        try Data([1]).write(to: dir.appendingPathComponent(".partial-\(getpid())-y.png"))
        XCTAssertEqual(ImageStore(root: root).removeOrphanedTemporaries(), 1)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [".partial-\(getpid())-y.png"])
    }
}
