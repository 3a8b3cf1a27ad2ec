/// Every parameter a `FluxTransformer2DModel` checkpoint holds for a given config, with its shape, named
/// as diffusers names them. The loader reads through this list, model-folder validation reports what is
/// missing from it, and the benchmark makes random weights for it.
public struct FluxParameterLayout: Sendable {
    public struct Linear: Sendable, Equatable {
        public let prefix: String
        public let inFeatures: Int
        public let outFeatures: Int
        /// Inside a double or single block (the linears a ternary checkpoint packs).
        public let inBlock: Bool
        public var weightName: String { prefix + ".weight" }
        public var biasName: String { prefix + ".bias" }
    }

    public struct Vector: Sendable, Equatable {
        public let name: String
        public let count: Int
    }

    public let linears: [Linear]
    public let vectors: [Vector]

    public init(config c: FluxTransformerConfig) {
        let d = c.innerDim, hd = c.attentionHeadDim, mlp = c.mlpHiddenDim
        var linears: [Linear] = []
        var vectors: [Vector] = []
        func lin(_ p: String, _ i: Int, _ o: Int, block: Bool = false) {
            linears.append(Linear(prefix: p, inFeatures: i, outFeatures: o, inBlock: block))
        }
        lin("x_embedder", c.inChannels, d)
        lin("context_embedder", c.jointAttentionDim, d)
        lin("time_text_embed.timestep_embedder.linear_1", 256, d)
        lin("time_text_embed.timestep_embedder.linear_2", d, d)
        if c.guidanceEmbeds {
            lin("time_text_embed.guidance_embedder.linear_1", 256, d)
            lin("time_text_embed.guidance_embedder.linear_2", d, d)
        }
        lin("time_text_embed.text_embedder.linear_1", c.pooledProjectionDim, d)
        lin("time_text_embed.text_embedder.linear_2", d, d)
        for i in 0..<c.numLayers {
            let p = "transformer_blocks.\(i)"
            lin("\(p).norm1.linear", d, 6 * d, block: true)
            lin("\(p).norm1_context.linear", d, 6 * d, block: true)
            for name in ["to_q", "to_k", "to_v", "add_q_proj", "add_k_proj", "add_v_proj", "to_out.0", "to_add_out"] {
                lin("\(p).attn.\(name)", d, d, block: true)
            }
            for name in ["norm_q", "norm_k", "norm_added_q", "norm_added_k"] {
                vectors.append(Vector(name: "\(p).attn.\(name).weight", count: hd))
            }
            lin("\(p).ff.net.0.proj", d, mlp, block: true)
            lin("\(p).ff.net.2", mlp, d, block: true)
            lin("\(p).ff_context.net.0.proj", d, mlp, block: true)
            lin("\(p).ff_context.net.2", mlp, d, block: true)
        }
        for i in 0..<c.numSingleLayers {
            let p = "single_transformer_blocks.\(i)"
            lin("\(p).norm.linear", d, 3 * d, block: true)
            for name in ["to_q", "to_k", "to_v"] { lin("\(p).attn.\(name)", d, d, block: true) }
            vectors.append(Vector(name: "\(p).attn.norm_q.weight", count: hd))
            vectors.append(Vector(name: "\(p).attn.norm_k.weight", count: hd))
            lin("\(p).proj_mlp", d, mlp, block: true)
            lin("\(p).proj_out", d + mlp, d, block: true)
        }
        lin("norm_out.linear", d, 2 * d)
        lin("proj_out", d, c.patchSize * c.patchSize * c.resolvedOutChannels)
        self.linears = linears
        self.vectors = vectors
    }

    /// Every tensor name the checkpoint must contain (weights, biases, norm weights).
    public var tensorNames: [String] {
        linears.flatMap { [$0.weightName, $0.biasName] } + vectors.map(\.name)
    }
}
