/// SplitMix64: a small, fast, seedable generator for benchmark weights and test data (never for sampling
/// noise, which must match torch: see TorchGenerator).
public struct SplitMix64: Sendable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    public mutating func unit() -> Float { Float(next() >> 40) / Float(1 << 24) }
    /// Uniform in [-1, 1).
    public mutating func signed() -> Float { 2 * unit() - 1 }
    /// -1, 0 or +1.
    public mutating func trit() -> Int8 { Int8(Int(next() % 3) - 1) }
    /// Uniform in 0..<n.
    public mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}
