extension SafeTensorsCheckpoint {
    /// The kernels' `TernaryLinear` over the packed bytes in place (the file's memory map is the owner).
    func makeTernaryLinear(_ packed: PackedTernaryWeight, bias: [Float]?, mode: ActivationMode) throws -> any LinearLayer {
        do {
            return try TernaryLinear(packed: packed.packed, owner: packed.owner, scale: packed.scale, bias: bias,
                                     format: packed.format, inFeatures: packed.inFeatures, outFeatures: packed.outFeatures, mode: mode)
        } catch let error as TernaryLinearError {
            throw WeightSourceError.invalidTernary(file: try file(containing: packed.name).url.path, tensor: packed.name, detail: error.description)
        }
    }
}
