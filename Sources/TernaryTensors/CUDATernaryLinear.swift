import CCUDA
import CTernaryKernels
import Foundation

/// A ternary linear layer whose weights live on a CUDA device and whose GEMM runs there (cuda_linear.c):
/// per-token int8 activations and int32 sums, the arithmetic of the CPU int8 kernels, so its outputs are the
/// CPU `TernaryLinear`'s bits in `.int8` mode. Activations are copied in and out on each call.
///
/// `apply` cannot throw (the `LinearLayer` contract): a failed call (out of device memory, a kernel fault)
/// fills the output with NaN and records the error in `CUDAFailures`, which the pipeline turns into a thrown
/// error at the end of the run, so a broken device fails the job rather than the process.
public final class CUDATernaryLinear: LinearLayer, @unchecked Sendable {
    public let inFeatures: Int
    public let outFeatures: Int
    public let ordinal: Int
    /// Bytes the layer holds on the device (packed weights, scales, bias).
    public let deviceBytes: Int
    private let handle: OpaquePointer

    /// Uploads `layer`'s weights to device `ordinal`. t3-packed weights are repacked as i2 (the GPU kernels
    /// decode i2). Only `.int8` layers can move: the device has no fp32-activation ternary GEMM.
    public init(_ layer: TernaryLinear, ordinal: Int) throws {
        guard layer.mode == .int8 else {
            throw TernaryLinearError("the CUDA backend runs ternary linears with int8 activations; --mode \(layer.mode.rawValue) runs on the CPU only (use --mode int8 or --device cpu)")
        }
        inFeatures = layer.inFeatures
        outFeatures = layer.outFeatures
        self.ordinal = ordinal
        let i2: UnsafeRawBufferPointer
        var repacked: PackedTernaryStorage?
        switch layer.format {
        case .i2:
            i2 = layer.packed
        case .t3:
            var q = [Int8](repeating: 0, count: layer.outFeatures * layer.inFeatures)
            let storage = PackedTernaryStorage(byteCount: layer.outFeatures * TernaryFormat.i2.rowBytes(inFeatures: layer.inFeatures))
            let n = Int64(layer.outFeatures), k = Int64(layer.inFeatures)
            guard tf_unpack(TF_FORMAT_T3, layer.packed.baseAddress!.assumingMemoryBound(to: UInt8.self), n, k, &q) == 0,
                  tf_pack(TF_FORMAT_I2, q, n, k, storage.bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)) == 0 else {
                throw TernaryLinearError("repacking a t3 weight [\(n), \(k)] as i2 for the CUDA backend failed")
            }
            repacked = storage
            i2 = storage.contents
        }
        var message = [CChar](repeating: 0, count: 512)
        var out: OpaquePointer?
        let status = layer.scale.withUnsafeBufferPointer { scale in
            withOptionalPointer(layer.bias) { bias in
                tf_cuda_linear_create(Int32(ordinal), i2.baseAddress!.assumingMemoryBound(to: UInt8.self), Int64(layer.outFeatures),
                                      Int64(layer.inFeatures), scale.baseAddress, bias, &out, &message, message.count)
            }
        }
        withExtendedLifetime(repacked) {}
        guard status == TF_CUDA_OK, let out else {
            let reason = String(cString: message)
            // No driver or no device: the device is unavailable; anything else (out of memory) is this layer's.
            if status == TF_CUDA_ENODRIVER || status == TF_CUDA_EINIT || status == TF_CUDA_ENODEVICE || status == TF_CUDA_ETOOOLD {
                throw CUDAUnavailable(ordinal: ordinal, reason: reason)
            }
            throw TernaryLinearError("cuda:\(ordinal): \(reason)")
        }
        handle = out
        deviceBytes = tf_cuda_linear_device_bytes(out)
    }

    deinit { tf_cuda_linear_destroy(handle) }

    public func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) {
        guard rows > 0 else { return }
        var message = [CChar](repeating: 0, count: 512)
        let status = tf_cuda_linear_apply(handle, x, Int64(rows), y, &message, message.count)
        if status != TF_CUDA_OK {
            y.update(repeating: .nan, count: rows * outFeatures)
            CUDAFailures.record(ordinal: ordinal, String(cString: message))
        }
    }
}

/// Errors of CUDA layer calls since the last `take`, per device and per calling thread: the first message and
/// how many calls failed. A forward pass calls its layers on its own thread and takes that thread's failures
/// at its end, so with several slots on one device a failure fails the job whose layer failed, not another.
public enum CUDAFailures {
    public struct Failure: Error, CustomStringConvertible, Equatable {
        public let ordinal: Int
        public let firstMessage: String
        public let count: Int
        public var description: String {
            "cuda:\(ordinal): \(count) GPU layer call\(count == 1 ? "" : "s") failed; the first: \(firstMessage)"
        }
    }

    private struct Key: Hashable {
        let ordinal: Int
        let thread: UInt
        init(_ ordinal: Int) { self.ordinal = ordinal; thread = UInt(pthread_self()) } // pthread_t: unsigned long on Linux
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var pending: [Key: (String, Int)] = [:]

    /// A failed call on device `ordinal`, made on this thread.
    static func record(ordinal: Int, _ message: String) {
        lock.lock()
        defer { lock.unlock() }
        let (first, count) = pending[Key(ordinal)] ?? (message, 0)
        pending[Key(ordinal)] = (first, count + 1)
    }

    /// The failures this thread's calls on device `ordinal` recorded since its last `take`, cleared.
    public static func take(ordinal: Int) -> Failure? {
        lock.lock()
        defer { lock.unlock() }
        guard let (first, count) = pending.removeValue(forKey: Key(ordinal)) else { return nil }
        return Failure(ordinal: ordinal, firstMessage: first, count: count)
    }
}
