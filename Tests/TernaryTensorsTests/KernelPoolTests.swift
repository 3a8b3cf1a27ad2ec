import CTernaryKernels
import Foundation
import XCTest
@testable import TernaryTensors

/// The kernels' persistent worker pool (`tf_parallel_for`) and the GEMM running on it.
final class KernelPoolTests: XCTestCase {
    override func tearDown() {
        _ = tf_set_isa(tf_detect_isa())
    }

    func testEveryTaskRunsExactlyOnce() {
        for n in [1, 2, 3, 7, 64, 1000] {
            let counts = UnsafeMutablePointer<Int32>.allocate(capacity: n)
            counts.initialize(repeating: 0, count: n)
            defer { counts.deallocate() }
            // Each task only touches its own slot, so a task run twice (or never) shows as a count other than 1.
            tf_parallel_for(Int32(n), { ctx, task in
                ctx!.assumingMemoryBound(to: Int32.self)[Int(task)] += 1
            }, counts)
            XCTAssertEqual((0..<n).filter { counts[$0] != 1 }, [], "n_tasks = \(n)")
        }
        tf_parallel_for(0, { _, _ in fatalError("no task may run for n_tasks = 0") }, nil)
        let workers = Int(tf_pool_workers())
        XCTAssertTrue((0...63).contains(workers), "\(workers) workers")
        if ProcessInfo.processInfo.activeProcessorCount > 1 { XCTAssertGreaterThan(workers, 0, "a multi-core machine gets workers") }
    }

    func testNestedCallsRunInlineOnTheTasksThread() {
        // Outer task t records its thread in slot t * 5 and runs 4 inner tasks whose threads go to slots t * 5 + 1...4.
        let outer = 6, inner = 4, stride = inner + 1
        let threads = UnsafeMutablePointer<UInt>.allocate(capacity: outer * stride)
        threads.initialize(repeating: 0, count: outer * stride)
        defer { threads.deallocate() }
        tf_parallel_for(Int32(outer), { ctx, task in
            let slots = ctx!.assumingMemoryBound(to: UInt.self) + Int(task) * 5
            slots[0] = UInt(pthread_self())
            tf_parallel_for(4, { innerCtx, innerTask in
                innerCtx!.assumingMemoryBound(to: UInt.self)[Int(innerTask)] = UInt(pthread_self())
            }, slots + 1)
        }, threads)
        for t in 0..<outer {
            XCTAssertNotEqual(threads[t * stride], 0)
            for i in 1...inner {
                XCTAssertEqual(threads[t * stride + i], threads[t * stride], "inner task \(i - 1) of outer task \(t)")
            }
        }
    }

    func testConcurrentCallersEachGetTheirOwnTasks() {
        // Eight Swift threads call tf_parallel_for at once, many times: every call must run its own tasks exactly once.
        let callers = 8, rounds = 200, tasks = 5
        let counts = UnsafeMutablePointer<Int32>.allocate(capacity: callers * tasks)
        counts.initialize(repeating: 0, count: callers * tasks)
        defer { counts.deallocate() }
        DispatchQueue.concurrentPerform(iterations: callers) { caller in
            for _ in 0..<rounds {
                tf_parallel_for(Int32(tasks), { ctx, task in
                    ctx!.assumingMemoryBound(to: Int32.self)[Int(task)] += 1
                }, counts + caller * tasks)
            }
        }
        XCTAssertEqual((0..<(callers * tasks)).filter { counts[$0] != Int32(rounds) }, [])
    }

    /// Problems above the one-thread threshold (M·K·N ≥ 2·10⁶) that are split into several shares (over columns,
    /// or over rows when N is small), with odd sizes everywhere.
    static let splitShapes: [(m: Int, k: Int, n: Int)] = [(1, 2053, 1000), (67, 1031, 300), (300, 513, 20), (5, 2053, 200)]

    func testResultsDoNotDependOnTheNumberOfShares() {
        // Each output element is summed by one share in the same order, so every share count gives the same bits.
        for (index, s) in Self.splitShapes.enumerated() {
            let c = GemmCase(m: s.m, k: s.k, n: s.n, seed: UInt64(100 + index), withBias: index % 2 == 1, zeroRows: [s.m / 2])
            for isa in TernaryGemmTests.paths {
                XCTAssertEqual(tf_set_isa(isa), 0)
                for mode in ActivationMode.allCases {
                    for format in TernaryFormat.allCases {
                        let (rc, one) = c.run(mode, format, threads: 1)
                        XCTAssertEqual(rc, 0)
                        for shares: Int32 in [0, 3, 64] {
                            let (rcN, y) = c.run(mode, format, threads: shares)
                            XCTAssertEqual(rcN, 0)
                            XCTAssertTrue(y == one, "\(String(cString: tf_isa_name(isa))) \(mode) \(format) M=\(s.m) K=\(s.k) N=\(s.n): \(shares) shares differ from 1")
                        }
                    }
                }
            }
        }
    }

    func testConcurrentGemmCallersGetCorrectResults() {
        // Reference results computed one call at a time, then six threads run different GEMMs at once repeatedly.
        struct Job { let c: GemmCase; let mode: ActivationMode; let format: TernaryFormat; let expected: [Float] }
        var jobs: [Job] = []
        for (index, s) in Self.splitShapes.enumerated() {
            let c = GemmCase(m: s.m, k: s.k, n: s.n, seed: UInt64(200 + index), withBias: true)
            for mode in ActivationMode.allCases {
                let format: TernaryFormat = index % 2 == 0 ? .i2 : .t3
                let (rc, y) = c.run(mode, format, threads: 0)
                XCTAssertEqual(rc, 0)
                jobs.append(Job(c: c, mode: mode, format: format, expected: y))
            }
        }
        let failures = UnsafeMutablePointer<Int32>.allocate(capacity: jobs.count)
        failures.initialize(repeating: 0, count: jobs.count)
        defer { failures.deallocate() }
        let frozen = jobs
        DispatchQueue.concurrentPerform(iterations: frozen.count) { i in
            for round in 0..<4 {
                let (rc, y) = frozen[i].c.run(frozen[i].mode, frozen[i].format, threads: round % 2 == 0 ? 0 : 3)
                if rc != 0 || y != frozen[i].expected { failures[i] += 1 }
            }
        }
        XCTAssertEqual((0..<jobs.count).filter { failures[$0] != 0 }, [], "jobs whose concurrent results differed")
    }

    func testScratchReuseAcrossSizes() {
        // A large int8 call (quantized activations over the 8 MiB kept per thread), a small one, then the large one
        // again: buffers grow, shrink back and are reused without stale data leaking into results.
        var big = GemmCase(m: 1, k: 4099, n: 17, seed: 9, withBias: true)
        let row = big.x
        big = GemmCase(m: 2100, k: 4099, n: 17, seed: 9, withBias: true, rowsFrom: row)
        let small = GemmCase(m: 3, k: 129, n: 40, seed: 10, withBias: false)
        let first = big.run(.int8, .i2, threads: 0)
        let smallFirst = small.run(.int8, .t3, threads: 0)
        let smallAgain = small.run(.int8, .t3, threads: 1)
        let again = big.run(.int8, .i2, threads: 0)
        XCTAssertEqual(first.rc, 0)
        XCTAssertTrue(first.y == again.y)
        XCTAssertTrue(smallFirst.y == smallAgain.y)
        let (ref, mag) = small.referenceInt8()
        for e in 0..<ref.count {
            XCTAssertEqual(Double(smallAgain.y[e]), ref[e], accuracy: 1e-5 * mag[e] + 1e-30)
        }
        // Row r of the big problem is the first row rotated by r: its outputs must differ between rows.
        XCTAssertNotEqual(Array(first.y[0..<17]), Array(first.y[17..<34]))
    }
}
