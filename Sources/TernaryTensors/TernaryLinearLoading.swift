extension SafeTensorsCheckpoint {
    /// Builds the layer for a packed ternary weight. Until the kernels' `TernaryLinear` is on main this
    /// dequantizes to a `DenseLinear` (same numbers as the f32 mode, none of the memory saving).
    func makeTernaryLinear(_ packed: PackedTernaryWeight, bias: [Float]?, mode: ActivationMode) throws -> any LinearLayer {
        let w = try packed.unpacked()
        return DenseLinear(weight: w.dequantized(), bias: bias, inFeatures: packed.inFeatures, outFeatures: packed.outFeatures)
    }
}
