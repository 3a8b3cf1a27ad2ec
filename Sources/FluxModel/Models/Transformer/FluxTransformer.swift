import Foundation
import TernaryTensors

/// diffusers' `FluxTransformer2DModel` forward pass. Block linears come from `WeightSource.linear`, so a
/// ternary checkpoint runs on the packed kernels (in `mode`) and an fp one on OpenBLAS; on `.cuda(N)` the
/// ternary linears run on that GPU (`CUDATernaryLinear`) and everything else on the CPU.
public final class FluxTransformer: @unchecked Sendable {
    public let config: FluxTransformerConfig
    public let mode: ActivationMode
    public let device: ComputeDevice
    /// How many linears, and how many bytes of weights, live on `device` (0 on the CPU).
    public let deviceLayerCount: Int
    public let deviceWeightBytes: Int
    /// The widest input and output of the linears on `device` (what sizes a call's activation scratch).
    let deviceMaxInFeatures: Int, deviceMaxOutFeatures: Int

    let xEmbedder: any LinearLayer
    let contextEmbedder: any LinearLayer
    let timeLinear1: any LinearLayer, timeLinear2: any LinearLayer
    let guidanceLinear1: (any LinearLayer)?, guidanceLinear2: (any LinearLayer)?
    let textLinear1: any LinearLayer, textLinear2: any LinearLayer
    let doubleBlocks: [FluxDoubleBlock]
    let singleBlocks: [FluxSingleBlock]
    let normOut: any LinearLayer
    let projOut: any LinearLayer

    /// Loads a `transformer/` folder: config.json and its safetensors weights (memory-mapped; a sharded
    /// index or several files are fine), fp or ternary as `ternflux quantize` writes them.
    public convenience init(directory: URL, mode: ActivationMode = .f32, device: ComputeDevice = .cpu) throws {
        let config = try FluxTransformerConfig.load(from: directory.appendingPathComponent("config.json"))
        try self.init(config: config, weights: try SafeTensorsCheckpoint(directory: directory), mode: mode, device: device)
    }

    /// Builds every layer from its entry in `FluxParameterLayout`, each checked against the shape the config
    /// implies; a checkpoint holding tensors of a bigger config (more blocks, a guidance embedder) is rejected first.
    public init(config: FluxTransformerConfig, weights: any WeightSource, mode: ActivationMode = .f32,
                device: ComputeDevice = .cpu) throws {
        try config.validate()
        self.config = config
        self.mode = mode
        self.device = device
        let layout = FluxParameterLayout(config: config)
        let loader = FluxWeightLoader(weights: weights, mode: mode, device: device)
        for tensor in layout.unexpected where weights.contains(tensor.name) {
            throw FluxTransformerError.unexpectedTensor(tensor.name, tensor.reason)
        }
        xEmbedder = try loader.linear(layout.xEmbedder)
        contextEmbedder = try loader.linear(layout.contextEmbedder)
        timeLinear1 = try loader.linear(layout.timeLinear1)
        timeLinear2 = try loader.linear(layout.timeLinear2)
        guidanceLinear1 = try layout.guidanceLinear1.map(loader.linear)
        guidanceLinear2 = try layout.guidanceLinear2.map(loader.linear)
        textLinear1 = try loader.linear(layout.textLinear1)
        textLinear2 = try loader.linear(layout.textLinear2)
        doubleBlocks = try layout.doubleBlocks.map { try FluxDoubleBlock($0, loader) }
        singleBlocks = try layout.singleBlocks.map { try FluxSingleBlock($0, loader) }
        normOut = try loader.linear(layout.normOut)
        projOut = try loader.linear(layout.projOut)
        deviceLayerCount = loader.placed.count
        deviceWeightBytes = loader.placed.bytes
        deviceMaxInFeatures = loader.placed.maxIn
        deviceMaxOutFeatures = loader.placed.maxOut
    }

    /// Device memory one concurrent forward pass of `tokens` rows (text + image tokens) needs for its layer
    /// calls' scratch (cuda_linear.c: fp32 input, int8 copy padded to 128, one scale per row, fp32 output),
    /// sized by the widest input and output; 0 on the CPU. A worker with N slots needs N of these.
    public func deviceScratchBytes(tokens: Int) -> Int {
        guard deviceLayerCount > 0 else { return 0 }
        let paddedIn = (deviceMaxInFeatures + 127) / 128 * 128
        return tokens * (4 * deviceMaxInFeatures + paddedIn + 4 + 4 * deviceMaxOutFeatures)
    }

    /// Throws the GPU layer failures of the last run on `device`, if any (`CUDATernaryLinear.apply` cannot throw).
    public func checkDevice() throws {
        if case .cuda(let ordinal) = device, let failure = CUDAFailures.take(ordinal: ordinal) { throw failure }
    }

    /// The activation buffers of the last forward pass, kept for the next one (the steps of one image all have
    /// the same shapes). A concurrent forward pass finds none and makes its own.
    private var spareWorkspace: FluxWorkspace?
    private let workspaceLock = NSLock()

    func takeWorkspace(batch: Int, textLength: Int, imageLength: Int) -> FluxWorkspace {
        workspaceLock.lock()
        var spare = spareWorkspace
        spareWorkspace = nil
        workspaceLock.unlock()
        if let w = spare, w.batch == batch, w.textLength == textLength, w.imageLength == imageLength {
            return w
        }
        // A spare of another shape is released before the new one is allocated, so both never coexist.
        spare = nil
        return FluxWorkspace(batch: batch, textLength: textLength, imageLength: imageLength, dim: config.innerDim,
                             mlp: config.mlpHiddenDim, singleBlocks: !singleBlocks.isEmpty)
    }

    func returnWorkspace(_ w: FluxWorkspace) {
        workspaceLock.lock()
        spareWorkspace = w
        workspaceLock.unlock()
    }

    /// Conditioning vector `temb` [B, D]: timestep (+ guidance) embedding + pooled text projection.
    /// `timestep` and `guidance` are the values the diffusers model receives (σ, not σ·1000).
    public func conditioning(timestep: [Float], guidance: [Float]?, pooled: Tensor) -> Tensor {
        let b = timestep.count
        func mlp(_ x: Tensor, _ l1: any LinearLayer, _ l2: any LinearLayer) -> Tensor {
            var h = l1(x)
            Activation.silu.apply(inPlace: &h)
            return l2(h)
        }
        let tProj = FluxTimestepEmbedding.sinusoidal(timestep.map { $0 * 1000 })
        var temb = mlp(tProj, timeLinear1, timeLinear2)
        if let guidance, let g1 = guidanceLinear1, let g2 = guidanceLinear2 {
            let gEmb = mlp(FluxTimestepEmbedding.sinusoidal(guidance.map { $0 * 1000 }), g1, g2)
            for i in temb.storage.indices { temb.storage[i] += gEmb.storage[i] }
        }
        let textEmb = mlp(pooled.reshaped([b, pooled.count / max(b, 1)]), textLinear1, textLinear2)
        for i in temb.storage.indices { temb.storage[i] += textEmb.storage[i] }
        return temb
    }

    /// One forward pass. Shapes: hiddenStates [B, S, in_channels], encoderHiddenStates [B, T, joint_attention_dim],
    /// pooledProjections [B, pooled_projection_dim], timestep [B] (σ), guidance [B] iff the model embeds it,
    /// imgIds [S, 3], txtIds [T, 3]. Returns `sample` [B, S, patch²·out_channels].
    public func forward(hiddenStates: Tensor, encoderHiddenStates: Tensor, pooledProjections: Tensor,
                        timestep: [Float], guidance: [Float]?, imgIds: Tensor, txtIds: Tensor) throws -> Tensor {
        let c = config
        func bad(_ name: String, _ message: String) -> FluxTransformerError { .badInput(name, message) }
        guard hiddenStates.rank == 3, hiddenStates.shape[2] == c.inChannels else {
            throw bad("hidden_states", "shape \(hiddenStates.shape), expected [B, S, \(c.inChannels)]")
        }
        let b = hiddenStates.shape[0], s = hiddenStates.shape[1]
        guard encoderHiddenStates.rank == 3, encoderHiddenStates.shape[0] == b,
              encoderHiddenStates.shape[2] == c.jointAttentionDim else {
            throw bad("encoder_hidden_states", "shape \(encoderHiddenStates.shape), expected [\(b), T, \(c.jointAttentionDim)]")
        }
        let t = encoderHiddenStates.shape[1]
        guard pooledProjections.shape == [b, c.pooledProjectionDim] else {
            throw bad("pooled_projections", "shape \(pooledProjections.shape), expected [\(b), \(c.pooledProjectionDim)]")
        }
        guard timestep.count == b else { throw bad("timestep", "\(timestep.count) values for batch \(b)") }
        if c.guidanceEmbeds {
            guard let guidance else { throw bad("guidance", "the model embeds guidance (guidance_embeds) but none was given") }
            guard guidance.count == b else { throw bad("guidance", "\(guidance.count) values for batch \(b)") }
        } else if guidance != nil {
            throw bad("guidance", "given, but the model has no guidance embedder (guidance_embeds is false)")
        }
        let axes = c.axesDimsRope.count
        guard imgIds.shape == [s, axes] else { throw bad("img_ids", "shape \(imgIds.shape), expected [\(s), \(axes)]") }
        guard txtIds.shape == [t, axes] else { throw bad("txt_ids", "shape \(txtIds.shape), expected [\(t), \(axes)]") }

        let d = c.innerDim, n = t + s
        let temb = conditioning(timestep: timestep, guidance: guidance, pooled: pooledProjections)
        let siluTemb = RowOps.silu(temb)
        let rope = FluxRotaryTable(ids: txtIds.storage + imgIds.storage, axesDims: c.axesDimsRope)

        let w = takeWorkspace(batch: b, textLength: t, imageLength: s)
        defer { returnWorkspace(w) }
        let H = w.h
        encoderHiddenStates.storage.withUnsafeBufferPointer { e in
            hiddenStates.storage.withUnsafeBufferPointer { x in
                for bi in 0..<b {
                    contextEmbedder.apply(e.baseAddress! + bi * t * c.jointAttentionDim, rows: t, into: H + bi * n * d)
                    xEmbedder.apply(x.baseAddress! + bi * s * c.inChannels, rows: s, into: H + (bi * n + t) * d)
                }
            }
        }
        for block in doubleBlocks {
            block(w, siluTemb: siluTemb, rope: rope, heads: c.numAttentionHeads, headDim: c.attentionHeadDim)
        }
        for block in singleBlocks {
            block(w, siluTemb: siluTemb, rope: rope, heads: c.numAttentionHeads, headDim: c.attentionHeadDim)
        }
        try checkDevice()

        // AdaLayerNormContinuous: (scale, shift) — the reverse of the blocks' order.
        let mod = normOut(siluTemb).storage
        let outDim = projOut.outFeatures
        var out = Tensor(zeros: [b, s, outDim])
        mod.withUnsafeBufferPointer { mp in
            out.storage.withUnsafeMutableBufferPointer { ob in
                for bi in 0..<b {
                    let m = mp.baseAddress! + bi * 2 * d
                    RowOps.layerNormModulate(w.h + (bi * n + t) * d, w.x, rows: s, dim: d, scale: m, shift: m + d)
                    projOut.apply(w.x, rows: s, into: ob.baseAddress! + bi * s * outDim)
                }
            }
        }
        return out
    }
}

/// Reads parameters through a `WeightSource`, checking each against the shape its layout entry gives.
struct FluxWeightLoader {
    let weights: any WeightSource
    let mode: ActivationMode
    let device: ComputeDevice
    /// The linears moved to `device` so far.
    let placed = Placed()

    final class Placed {
        var count = 0
        var bytes = 0
        var maxIn = 0, maxOut = 0
    }

    func linear(_ entry: FluxParameterLayout.Linear) throws -> any LinearLayer {
        let (weightName, biasName) = (entry.weightName, entry.biasName)
        let (inFeatures, outFeatures) = (entry.inFeatures, entry.outFeatures)
        guard weights.contains(weightName) else { throw FluxTransformerError.missingTensor(weightName) }
        guard weights.contains(biasName) else { throw FluxTransformerError.missingTensor(biasName) }
        let layer = try weights.linear(entry.prefix, mode: mode)
        guard layer.inFeatures == inFeatures, layer.outFeatures == outFeatures else {
            throw FluxTransformerError.shapeMismatch(tensor: weightName, expected: [outFeatures, inFeatures],
                                                     found: [layer.outFeatures, layer.inFeatures])
        }
        let biasShape = try weights.shape(biasName)
        guard biasShape == [outFeatures] else {
            throw FluxTransformerError.shapeMismatch(tensor: biasName, expected: [outFeatures], found: biasShape)
        }
        // Only ternary linears move: they are the block linears of a quantized model, the rest stays fp32 on the CPU.
        if case .cuda(let ordinal) = device, let ternary = layer as? TernaryLinear {
            let moved: CUDATernaryLinear
            do { moved = try CUDATernaryLinear(ternary, ordinal: ordinal) } catch let error as TernaryLinearError {
                throw FluxTransformerError.device(tensor: weightName, detail: error.description)
            }
            placed.count += 1
            placed.bytes += moved.deviceBytes
            placed.maxIn = max(placed.maxIn, moved.inFeatures)
            placed.maxOut = max(placed.maxOut, moved.outFeatures)
            return moved
        }
        return layer
    }

    func vector(_ entry: FluxParameterLayout.Vector) throws -> [Float] {
        guard weights.contains(entry.name) else { throw FluxTransformerError.missingTensor(entry.name) }
        let t = try weights.tensor(entry.name)
        guard t.shape == [entry.count] else {
            throw FluxTransformerError.shapeMismatch(tensor: entry.name, expected: [entry.count], found: t.shape)
        }
        return t.storage
    }
}

extension FluxDoubleBlock {
    init(_ l: FluxParameterLayout.DoubleBlock, _ loader: FluxWeightLoader) throws {
        self.init(norm1: try loader.linear(l.norm1), norm1Context: try loader.linear(l.norm1Context),
                  toQ: try loader.linear(l.toQ), toK: try loader.linear(l.toK), toV: try loader.linear(l.toV),
                  addQ: try loader.linear(l.addQ), addK: try loader.linear(l.addK), addV: try loader.linear(l.addV),
                  toOut: try loader.linear(l.toOut), toAddOut: try loader.linear(l.toAddOut),
                  normQ: try loader.vector(l.normQ), normK: try loader.vector(l.normK),
                  normAddedQ: try loader.vector(l.normAddedQ), normAddedK: try loader.vector(l.normAddedK),
                  ff1: try loader.linear(l.ff1), ff2: try loader.linear(l.ff2),
                  ffContext1: try loader.linear(l.ffContext1), ffContext2: try loader.linear(l.ffContext2))
    }
}

extension FluxSingleBlock {
    init(_ l: FluxParameterLayout.SingleBlock, _ loader: FluxWeightLoader) throws {
        self.init(norm: try loader.linear(l.norm),
                  toQ: try loader.linear(l.toQ), toK: try loader.linear(l.toK), toV: try loader.linear(l.toV),
                  normQ: try loader.vector(l.normQ), normK: try loader.vector(l.normK),
                  projMLP: try loader.linear(l.projMLP), projOut: try loader.linear(l.projOut))
    }
}
