import Foundation
import Logging
import ServiceLifecycle

/// `ternflux worker --slots N`: N consume → generate → record loops in one process around one loaded model
/// (one copy of the weights in memory, or on the GPU), each its own consumer-group member with its own worker
/// id, database connection and job thread, so each keeps the single loop's delivery guarantees. The jobs of
/// the slots run at the same time; on the CPU the kernels' pool runs one GEMM at a time with every core, on
/// a GPU each slot's layer calls have their own stream and activation memory (cuda_linear.c).
///
/// Ends when every slot has stopped (shutdown, or each one's stop rule); a slot that fails stops the others
/// (they finish their current job) and its error is thrown.
public final class WorkerSlots: Service, @unchecked Sendable {
    public let slots: [WorkerService]

    public init(_ slots: [WorkerService]) {
        precondition(!slots.isEmpty, "a worker has at least one slot")
        self.slots = slots
    }

    /// The worker ids of `count` slots of a worker whose id is `base`: `base` itself for one slot, else
    /// `base-1` … `base-N` (each slot is a worker in the database and a member in the group).
    public static func workerIDs(base: String, count: Int) -> [String] {
        count == 1 ? [base] : (1...count).map { "\(base)-\($0)" }
    }

    public func run() async throws {
        let slots = self.slots
        try await withThrowingTaskGroup(of: Void.self) { group in
            for slot in slots { group.addTask { try await slot.run() } }
            var firstError: Error?
            while let result = await group.nextResult() {
                if case .failure(let error) = result, firstError == nil {
                    firstError = error
                    for other in slots { other.shutdown.request() }
                }
            }
            if let firstError { throw firstError }
        }
    }
}
