import COpenBLAS
import Foundation

/// How many threads OpenBLAS may use for one sgemm. Its own threads only pay off on large products: on small
/// ones (a few million multiply-adds, like the shipped model's) waking them costs more than it saves
/// (measurements in docs/benchmarks.md).
/// Call sites outside a parallel region call `prepare` before each sgemm; regions that split work over the
/// cores themselves (blocked attention, Winograd bands) call `useOneThread` first.
public enum BLASThreads {
    /// Products with fewer multiply-adds than this run on the calling thread.
    public static let serialBelow = 1 << 23

    private static let lock = NSLock()
    /// The count last given to OpenBLAS by this type (-1: none yet).
    nonisolated(unsafe) private static var configured: Int32 = -1
    /// OpenBLAS' own count at first use (OPENBLAS_NUM_THREADS or the number of cores), capped by
    /// `ComputeThreads.count` (TERNFLUX_THREADS).
    private static let available: Int32 = max(1, min(openblas_get_num_threads(), Int32(ComputeThreads.count)))

    /// Sets OpenBLAS' thread count for one m×n×k product: 1 when it is small, otherwise all it has.
    public static func prepare(m: Int, n: Int, k: Int) {
        set(Double(m) * Double(n) * Double(k) < Double(serialBelow) ? 1 : available)
    }

    /// OpenBLAS at the process' thread cap (`ComputeThreads.count`): called once at start-up, so that sgemm calls
    /// made without `prepare` do not use more threads than TERNFLUX_THREADS allows.
    public static func applyCap() {
        set(available)
    }

    /// OpenBLAS on one thread from here on, for sgemm calls inside work already split over the cores (the next
    /// `prepare` outside such a region sets it again).
    public static func useOneThread() {
        set(1)
    }

    private static func set(_ threads: Int32) {
        let threads = min(threads, available)
        lock.lock()
        defer { lock.unlock() }
        if configured != threads {
            openblas_set_num_threads(threads)
            configured = threads
        }
    }
}
