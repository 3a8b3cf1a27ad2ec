import Foundation
import JobModel
import XCTest
@testable import TernFluxBench

/// /proc smaps parsing and the replica density run (`ternflux bench density`) on the shipped model.
final class ProcessSmapsTests: XCTestCase {
    func testParsesRollupTotals() throws {
        let text = """
        55d0c0a00000-7ffd4b5fe000 ---p 00000000 00:00 0                          [rollup]
        Rss:               45044 kB
        Pss:               16288 kB
        Pss_Dirty:          8912 kB
        Pss_Anon:           8048 kB
        Pss_File:           8240 kB
        Pss_Shmem:             0 kB
        Private_Dirty:      8912 kB
        """
        let s = try ProcessSmaps.parseRollup(text)
        XCTAssertEqual(s.rss, 45044 * 1024)
        XCTAssertEqual(s.pss, 16288 * 1024)
        XCTAssertEqual(s.pssAnon, 8048 * 1024)
        XCTAssertEqual(s.pssFile, 8240 * 1024)
        XCTAssertEqual(s.privateDirty, 8912 * 1024)
        XCTAssertThrowsError(try ProcessSmaps.parseRollup("Rss: 4 kB", source: "x")) { error in
            XCTAssertTrue("\(error)".contains("x has no 'Pss:'"), "\(error)")
        }
    }

    func testSumsOnlyTheMappingsUnderTheGivenFolders() {
        let text = """
        7f389fcfb000-7f389fd7e000 r--p 00000000 fe:00 5491086                    /models/a/transformer/w.safetensors
        Size:                524 kB
        Rss:                 520 kB
        Pss:                 260 kB
        7f389fd7e000-7f389fd80000 rw-p 00000000 00:00 0
        Rss:                   8 kB
        Pss:                   8 kB
        7f389fd80000-7f389fd90000 r--p 00000000 fe:00 77                         /models/ab/x.safetensors
        Rss:                  64 kB
        Pss:                  64 kB
        7f389fd90000-7f389fda0000 r--s 00000000 fe:00 78                         /models/a/vae/v.safetensors
        Rss:                  16 kB
        Pss:                   4 kB
        VmFlags: rd mr me ms sd
        """
        let r = ProcessSmaps.parseMappings(text, filesUnder: ["/models/a"])
        XCTAssertEqual(r.pss, (260 + 4) * 1024)
        XCTAssertEqual(r.rss, (520 + 16) * 1024)
    }

    /// A mapped, touched file of this process shows up whole in its own smaps.
    func testReadsThisProcessWithAMappedFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smaps-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("w.bin")
        let size = 1 << 20
        try Data(repeating: 7, count: size).write(to: file)
        let fd = open(file.path, O_RDONLY)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)!
        XCTAssertNotEqual(p, MAP_FAILED)
        defer { munmap(p, size) }
        var sum = 0
        for i in stride(from: 0, to: size, by: 4096) { sum += Int(p.load(fromByteOffset: i, as: UInt8.self)) }
        XCTAssertEqual(sum, 7 * size / 4096)
        let s = try ProcessSmaps.read(pid: getpid(), filesUnder: [dir.path])
        XCTAssertEqual(s.rssOfFiles, size)
        XCTAssertEqual(s.pssOfFiles, size)
        XCTAssertGreaterThan(s.pss, s.pssOfFiles)
        XCTAssertEqual(s.working, s.pss - size)
        XCTAssertThrowsError(try ProcessSmaps.read(pid: 0x7fff_fff0, filesUnder: [])) { error in
            XCTAssertTrue("\(error)".contains("/proc/\(0x7fff_fff0)/smaps_rollup"), "\(error)")
        }
    }

    /// Two replicas of the shipped model: both measured at 1 and 2, the weights' PSS is shared (each replica's
    /// share halves), and the replicas are gone afterwards.
    func testDensityRunOnTheShippedModel() throws {
        let model = BenchTestPaths.packageRoot.appendingPathComponent("models/default").path
        let density = ReplicaDensity(executable: BenchTestPaths.binary,
                                     arguments: ["bench", "replica", "--model", model, "--width", "64", "--height", "64"],
                                     counts: [1, 2], weightPaths: [model])
        let runs = try density.run()
        XCTAssertEqual(runs.map(\.replicas), [1, 2])
        XCTAssertEqual(runs[1].processes.count, 2)
        let one = runs[0].processes[0].smaps, shared = runs[1].processes.map(\.smaps)
        XCTAssertGreaterThan(one.pssOfFiles, 0)
        XCTAssertLessThan(shared[0].pssOfFiles, one.pssOfFiles, "the second replica shares the mapped weights")
        XCTAssertEqual(runs[1].nodeTotalPSS, shared.reduce(0) { $0 + $1.pss })
        XCTAssertEqual(runs[1].weightsPSS + runs[1].workingPSS, runs[1].nodeTotalPSS)
        XCTAssertGreaterThan(runs[0].processes[0].ready["run_seconds"] ?? 0, 0)
        for r in runs[1].processes { XCTAssertNotEqual(kill(r.pid, 0), 0, "replica \(r.pid) still running") }

        let failing = ReplicaDensity(executable: BenchTestPaths.binary,
                                     arguments: ["bench", "replica", "--model", "/nonexistent/model"],
                                     counts: [1], weightPaths: [])
        XCTAssertThrowsError(try failing.run()) { error in
            XCTAssertTrue("\(error)".contains("before it was ready"), "\(error)")
        }
        XCTAssertThrowsError(try ReplicaDensity(executable: BenchTestPaths.binary, arguments: [], counts: [2, 1],
                                                weightPaths: []).run())
    }
}
