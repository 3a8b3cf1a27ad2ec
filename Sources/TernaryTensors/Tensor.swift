/// A dense, contiguous, row-major fp32 tensor: the activation type that flows between layers.
public struct Tensor: Equatable, Sendable {
    public var shape: [Int]
    public var storage: [Float]

    public init(shape: [Int], storage: [Float]) {
        precondition(shape.reduce(1, *) == storage.count,
                     "tensor shape \(shape) does not match \(storage.count) elements")
        self.shape = shape
        self.storage = storage
    }

    public init(zeros shape: [Int]) {
        self.shape = shape
        self.storage = [Float](repeating: 0, count: shape.reduce(1, *))
    }

    public var count: Int { storage.count }
    public var rank: Int { shape.count }

    /// Size of the last dimension (the feature axis for [..., features] activations).
    public var lastDim: Int { shape.last ?? 1 }

    /// Number of rows when the tensor is viewed as [count / lastDim, lastDim].
    public var rows: Int { lastDim == 0 ? 0 : count / lastDim }

    /// The same elements under another shape with the same element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, storage: storage)
    }

    /// Largest absolute element (0 for an empty tensor).
    public var maxAbs: Float { storage.reduce(0) { max($0, abs($1)) } }
}
