/// Every parameter a `FluxTransformer2DModel` checkpoint holds for a given config, with its shape, named
/// as diffusers names them: the one place these names are written. `FluxTransformer` loads each layer from its
/// entry here (a missing or mis-shaped tensor is named from it), and the benchmark makes random weights and
/// checkpoints for it.
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

    /// One `FluxTransformerBlock` (double stream): image-row weights (`to_*`, `ff`) and text-row weights
    /// (`add_*`, `ff_context`).
    public struct DoubleBlock: Sendable, Equatable {
        public let norm1: Linear, norm1Context: Linear
        public let toQ: Linear, toK: Linear, toV: Linear
        public let addQ: Linear, addK: Linear, addV: Linear
        public let toOut: Linear, toAddOut: Linear
        public let normQ: Vector, normK: Vector, normAddedQ: Vector, normAddedK: Vector
        public let ff1: Linear, ff2: Linear
        public let ffContext1: Linear, ffContext2: Linear

        init(index i: Int, dim d: Int, headDim hd: Int, mlp: Int) {
            let p = "transformer_blocks.\(i)"
            func lin(_ name: String, _ inFeatures: Int, _ outFeatures: Int) -> Linear {
                Linear(prefix: "\(p).\(name)", inFeatures: inFeatures, outFeatures: outFeatures, inBlock: true)
            }
            func norm(_ name: String) -> Vector { Vector(name: "\(p).attn.\(name).weight", count: hd) }
            norm1 = lin("norm1.linear", d, 6 * d)
            norm1Context = lin("norm1_context.linear", d, 6 * d)
            toQ = lin("attn.to_q", d, d); toK = lin("attn.to_k", d, d); toV = lin("attn.to_v", d, d)
            addQ = lin("attn.add_q_proj", d, d); addK = lin("attn.add_k_proj", d, d); addV = lin("attn.add_v_proj", d, d)
            toOut = lin("attn.to_out.0", d, d)
            toAddOut = lin("attn.to_add_out", d, d)
            normQ = norm("norm_q"); normK = norm("norm_k")
            normAddedQ = norm("norm_added_q"); normAddedK = norm("norm_added_k")
            ff1 = lin("ff.net.0.proj", d, mlp); ff2 = lin("ff.net.2", mlp, d)
            ffContext1 = lin("ff_context.net.0.proj", d, mlp); ffContext2 = lin("ff_context.net.2", mlp, d)
        }

        /// In checkpoint order.
        public var linears: [Linear] {
            [norm1, norm1Context, toQ, toK, toV, addQ, addK, addV, toOut, toAddOut, ff1, ff2, ffContext1, ffContext2]
        }
        public var vectors: [Vector] { [normQ, normK, normAddedQ, normAddedK] }
    }

    /// One `FluxSingleTransformerBlock`: one set of weights for all rows, attention and MLP side by side.
    public struct SingleBlock: Sendable, Equatable {
        public let norm: Linear
        public let toQ: Linear, toK: Linear, toV: Linear
        public let normQ: Vector, normK: Vector
        public let projMLP: Linear, projOut: Linear

        init(index i: Int, dim d: Int, headDim hd: Int, mlp: Int) {
            let p = "single_transformer_blocks.\(i)"
            func lin(_ name: String, _ inFeatures: Int, _ outFeatures: Int) -> Linear {
                Linear(prefix: "\(p).\(name)", inFeatures: inFeatures, outFeatures: outFeatures, inBlock: true)
            }
            norm = lin("norm.linear", d, 3 * d)
            toQ = lin("attn.to_q", d, d); toK = lin("attn.to_k", d, d); toV = lin("attn.to_v", d, d)
            normQ = Vector(name: "\(p).attn.norm_q.weight", count: hd)
            normK = Vector(name: "\(p).attn.norm_k.weight", count: hd)
            projMLP = lin("proj_mlp", d, mlp)
            projOut = lin("proj_out", d + mlp, d)
        }

        /// In checkpoint order.
        public var linears: [Linear] { [norm, toQ, toK, toV, projMLP, projOut] }
        public var vectors: [Vector] { [normQ, normK] }
    }

    /// A tensor a checkpoint made for another config would hold, and why this config does not expect it (the
    /// loader rejects a checkpoint that has one).
    public struct Unexpected: Sendable, Equatable {
        public let name: String
        public let reason: String
    }

    public let xEmbedder: Linear
    public let contextEmbedder: Linear
    /// `time_text_embed`: the timestep MLP, the guidance MLP (models with `guidance_embeds`) and the pooled-text MLP.
    public let timeLinear1: Linear, timeLinear2: Linear
    public let guidanceLinear1: Linear?, guidanceLinear2: Linear?
    public let textLinear1: Linear, textLinear2: Linear
    public let doubleBlocks: [DoubleBlock]
    public let singleBlocks: [SingleBlock]
    /// `norm_out` (AdaLayerNormContinuous) and the final projection.
    public let normOut: Linear
    public let projOut: Linear
    /// The first tensor of a guidance embedder the config does not declare, and of one block more than it has.
    public let unexpected: [Unexpected]

    public init(config c: FluxTransformerConfig) {
        let d = c.innerDim, hd = c.attentionHeadDim, mlp = c.mlpHiddenDim
        func lin(_ prefix: String, _ inFeatures: Int, _ outFeatures: Int) -> Linear {
            Linear(prefix: prefix, inFeatures: inFeatures, outFeatures: outFeatures, inBlock: false)
        }
        xEmbedder = lin("x_embedder", c.inChannels, d)
        contextEmbedder = lin("context_embedder", c.jointAttentionDim, d)
        timeLinear1 = lin("time_text_embed.timestep_embedder.linear_1", 256, d)
        timeLinear2 = lin("time_text_embed.timestep_embedder.linear_2", d, d)
        let guidance1 = lin("time_text_embed.guidance_embedder.linear_1", 256, d)
        guidanceLinear1 = c.guidanceEmbeds ? guidance1 : nil
        guidanceLinear2 = c.guidanceEmbeds ? lin("time_text_embed.guidance_embedder.linear_2", d, d) : nil
        textLinear1 = lin("time_text_embed.text_embedder.linear_1", c.pooledProjectionDim, d)
        textLinear2 = lin("time_text_embed.text_embedder.linear_2", d, d)
        doubleBlocks = (0..<c.numLayers).map { DoubleBlock(index: $0, dim: d, headDim: hd, mlp: mlp) }
        singleBlocks = (0..<c.numSingleLayers).map { SingleBlock(index: $0, dim: d, headDim: hd, mlp: mlp) }
        normOut = lin("norm_out.linear", d, 2 * d)
        projOut = lin("proj_out", d, c.patchSize * c.patchSize * c.resolvedOutChannels)
        var unexpected: [Unexpected] = []
        if !c.guidanceEmbeds { unexpected.append(Unexpected(name: guidance1.weightName, reason: "guidance_embeds is false")) }
        unexpected.append(Unexpected(name: DoubleBlock(index: c.numLayers, dim: d, headDim: hd, mlp: mlp).norm1.weightName,
                                     reason: "num_layers is \(c.numLayers)"))
        unexpected.append(Unexpected(name: SingleBlock(index: c.numSingleLayers, dim: d, headDim: hd, mlp: mlp).norm.weightName,
                                     reason: "num_single_layers is \(c.numSingleLayers)"))
        self.unexpected = unexpected
    }

    /// Every linear, in checkpoint order.
    public var linears: [Linear] {
        [xEmbedder, contextEmbedder, timeLinear1, timeLinear2] + [guidanceLinear1, guidanceLinear2].compactMap { $0 }
            + [textLinear1, textLinear2] + doubleBlocks.flatMap(\.linears) + singleBlocks.flatMap(\.linears)
            + [normOut, projOut]
    }

    /// Every norm weight (the per-head RMSNorms of q and k), in checkpoint order.
    public var vectors: [Vector] { doubleBlocks.flatMap(\.vectors) + singleBlocks.flatMap(\.vectors) }

    /// Every tensor name the checkpoint must contain (weights, biases, norm weights).
    public var tensorNames: [String] {
        linears.flatMap { [$0.weightName, $0.biasName] } + vectors.map(\.name)
    }
}
