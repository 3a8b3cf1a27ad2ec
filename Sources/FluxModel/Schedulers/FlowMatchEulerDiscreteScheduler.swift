import Foundation
import TernaryTensors

/// `scheduler/scheduler_config.json` of a diffusers FLUX folder (FlowMatchEulerDiscreteScheduler); keys as diffusers
/// writes them, absent keys take diffusers' `__init__` defaults.
public struct FlowMatchEulerDiscreteSchedulerConfig: Codable, Equatable, Sendable {
    public enum TimeShiftType: String, Codable, Sendable { case exponential, linear }

    public var numTrainTimesteps: Int = 1000
    public var shift: Double = 1.0
    public var useDynamicShifting: Bool = false
    public var baseShift: Double? = 0.5
    public var maxShift: Double? = 1.15
    public var baseImageSeqLen: Int = 256
    public var maxImageSeqLen: Int = 4096
    public var invertSigmas: Bool = false
    public var shiftTerminal: Double? = nil
    public var useKarrasSigmas: Bool = false
    public var useExponentialSigmas: Bool = false
    public var useBetaSigmas: Bool = false
    public var timeShiftType: TimeShiftType = .exponential
    public var stochasticSampling: Bool = false

    enum CodingKeys: String, CodingKey {
        case numTrainTimesteps = "num_train_timesteps"
        case shift
        case useDynamicShifting = "use_dynamic_shifting"
        case baseShift = "base_shift"
        case maxShift = "max_shift"
        case baseImageSeqLen = "base_image_seq_len"
        case maxImageSeqLen = "max_image_seq_len"
        case invertSigmas = "invert_sigmas"
        case shiftTerminal = "shift_terminal"
        case useKarrasSigmas = "use_karras_sigmas"
        case useExponentialSigmas = "use_exponential_sigmas"
        case useBetaSigmas = "use_beta_sigmas"
        case timeShiftType = "time_shift_type"
        case stochasticSampling = "stochastic_sampling"
    }

    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        numTrainTimesteps = try c.decodeIfPresent(Int.self, forKey: .numTrainTimesteps) ?? numTrainTimesteps
        shift = try c.decodeIfPresent(Double.self, forKey: .shift) ?? shift
        useDynamicShifting = try c.decodeIfPresent(Bool.self, forKey: .useDynamicShifting) ?? useDynamicShifting
        // An explicit null is kept as nil (diffusers allows it); an absent key takes the default.
        if c.contains(.baseShift) { baseShift = try c.decodeIfPresent(Double.self, forKey: .baseShift) }
        if c.contains(.maxShift) { maxShift = try c.decodeIfPresent(Double.self, forKey: .maxShift) }
        baseImageSeqLen = try c.decodeIfPresent(Int.self, forKey: .baseImageSeqLen) ?? baseImageSeqLen
        maxImageSeqLen = try c.decodeIfPresent(Int.self, forKey: .maxImageSeqLen) ?? maxImageSeqLen
        invertSigmas = try c.decodeIfPresent(Bool.self, forKey: .invertSigmas) ?? invertSigmas
        shiftTerminal = try c.decodeIfPresent(Double.self, forKey: .shiftTerminal)
        useKarrasSigmas = try c.decodeIfPresent(Bool.self, forKey: .useKarrasSigmas) ?? useKarrasSigmas
        useExponentialSigmas = try c.decodeIfPresent(Bool.self, forKey: .useExponentialSigmas) ?? useExponentialSigmas
        useBetaSigmas = try c.decodeIfPresent(Bool.self, forKey: .useBetaSigmas) ?? useBetaSigmas
        timeShiftType = try c.decodeIfPresent(TimeShiftType.self, forKey: .timeShiftType) ?? timeShiftType
        stochasticSampling = try c.decodeIfPresent(Bool.self, forKey: .stochasticSampling) ?? stochasticSampling
    }
}

public struct SchedulerError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The flow-match Euler sampler as `FluxPipeline` drives it: `sigmas = linspace(1, 1/n, n)`, `mu` from the packed
/// image sequence length, `set_timesteps(sigmas:, mu:)`, then `x ← x + (σ' − σ)·v` per step.
///
/// Precision follows diffusers exactly: linspace in float64, cast to float32; the time shift evaluated in float32
/// numpy arithmetic (Python scalars such as `exp(mu)` and `shift` are rounded to float32 first); timesteps are the
/// float32 product σ·num_train_timesteps; the Euler update is float32 with separate multiply and add.
public struct FlowMatchEulerDiscreteScheduler: Sendable {
    public let config: FlowMatchEulerDiscreteSchedulerConfig

    public init(config: FlowMatchEulerDiscreteSchedulerConfig) throws {
        if config.useKarrasSigmas || config.useExponentialSigmas || config.useBetaSigmas {
            throw SchedulerError("scheduler config: use_karras_sigmas / use_exponential_sigmas / use_beta_sigmas are not supported by FluxPipeline's schedule")
        }
        if config.stochasticSampling {
            throw SchedulerError("scheduler config: stochastic_sampling is not supported (the FLUX sampler is deterministic Euler)")
        }
        if config.numTrainTimesteps < 1 {
            throw SchedulerError("scheduler config: num_train_timesteps must be ≥ 1, got \(config.numTrainTimesteps)")
        }
        if config.useDynamicShifting && config.maxImageSeqLen == config.baseImageSeqLen {
            throw SchedulerError("scheduler config: max_image_seq_len equals base_image_seq_len (\(config.baseImageSeqLen)); mu is undefined")
        }
        self.config = config
    }

    /// Loads `scheduler_config.json` from a scheduler folder (or the file itself).
    public init(directory: URL) throws {
        let file = directory.pathExtension == "json" ? directory : directory.appendingPathComponent("scheduler_config.json")
        guard let data = FileManager.default.contents(atPath: file.path) else {
            throw SchedulerError("scheduler config not found: \(file.path)")
        }
        let config: FlowMatchEulerDiscreteSchedulerConfig
        do {
            config = try JSONDecoder().decode(FlowMatchEulerDiscreteSchedulerConfig.self, from: data)
        } catch {
            throw SchedulerError("\(file.path): \(error)")
        }
        try self.init(config: config)
    }

    /// `calculate_shift` of pipeline_flux.py (float64), with the config's values or diffusers' defaults.
    public func mu(imageSequenceLength: Int) -> Double {
        let baseShift = config.baseShift ?? 0.5
        let maxShift = config.maxShift ?? 1.15
        let m = (maxShift - baseShift) / Double(config.maxImageSeqLen - config.baseImageSeqLen)
        let b = baseShift - m * Double(config.baseImageSeqLen)
        return Double(imageSequenceLength) * m + b
    }

    /// `np.linspace(1.0, 1/n, n)` in float64, as numpy computes it (i·step + start, last value exactly `stop`).
    static func linspace(_ start: Double, _ stop: Double, _ n: Int) -> [Double] {
        guard n > 1 else { return n == 1 ? [start] : [] }
        let step = (stop - start) / Double(n - 1)
        var y = (0..<n).map { Double($0) * step + start }
        y[n - 1] = stop
        return y
    }

    /// The n + 1 sigmas (trailing 0, or 1 with `invert_sigmas`) for `steps` steps at a packed image sequence length.
    public func sigmas(steps: Int, imageSequenceLength: Int) throws -> [Float] {
        try schedule(steps: steps, imageSequenceLength: imageSequenceLength).sigmas
    }

    /// The n timesteps (σ·num_train_timesteps in float32) the pipeline iterates over.
    public func timesteps(steps: Int, imageSequenceLength: Int) throws -> [Float] {
        try schedule(steps: steps, imageSequenceLength: imageSequenceLength).timesteps
    }

    public func schedule(steps: Int, imageSequenceLength: Int) throws -> FlowMatchSchedule {
        guard steps >= 1 else { throw SchedulerError("steps must be ≥ 1, got \(steps)") }
        guard imageSequenceLength >= 1 else {
            throw SchedulerError("image sequence length must be ≥ 1, got \(imageSequenceLength)")
        }
        var s = Self.linspace(1.0, 1.0 / Double(steps), steps).map { Float($0) }
        if config.useDynamicShifting {
            let mu = self.mu(imageSequenceLength: imageSequenceLength)
            // numpy: Python floats meet a float32 array and are rounded to float32 first.
            let numerator: Float = config.timeShiftType == .exponential ? Float(exp(mu)) : Float(mu)
            s = s.map { t in numerator / (numerator + powf(1 / t - 1, 1)) }
        } else {
            let shift = Float(config.shift)
            let shiftMinusOne = Float(config.shift - 1)
            s = s.map { t in shift * t / (1 + shiftMinusOne * t) }
        }
        if let terminal = config.shiftTerminal, terminal != 0 {
            let oneMinus = s.map { 1 - $0 }
            let scale = oneMinus[oneMinus.count - 1] / Float(1 - terminal)
            s = oneMinus.map { 1 - $0 / scale }
        }
        let train = Float(config.numTrainTimesteps)
        var timesteps = s.map { $0 * train }
        if config.invertSigmas {
            s = s.map { 1 - $0 }
            timesteps = s.map { $0 * train }
            s.append(1)
        } else {
            s.append(0)
        }
        return FlowMatchSchedule(sigmas: s, timesteps: timesteps)
    }

    /// One Euler step in float32: `x ← x + (σ_next − σ)·v` (multiply, round, add, round — as torch does).
    public static func step(_ sample: inout Tensor, velocity: Tensor, sigma: Float, sigmaNext: Float) throws {
        guard sample.shape == velocity.shape else {
            throw SchedulerError("Euler step: model output shape \(velocity.shape) differs from sample shape \(sample.shape)")
        }
        let dt = sigmaNext - sigma
        sample.storage.withUnsafeMutableBufferPointer { x in
            velocity.storage.withUnsafeBufferPointer { v in
                for i in 0..<x.count { x[i] = x[i] + dt * v[i] }
            }
        }
    }
}

/// The sigmas (n + 1) and timesteps (n) of one sampling run.
public struct FlowMatchSchedule: Equatable, Sendable {
    public let sigmas: [Float]
    public let timesteps: [Float]

    public var steps: Int { timesteps.count }

    /// What FluxPipeline hands the transformer at step i: `timestep / 1000` in float32 (not always bit-equal to σ).
    public func transformerTimestep(_ i: Int) -> Float { timesteps[i] / 1000 }

    /// Euler step i: from sigmas[i] to sigmas[i + 1].
    public func step(_ sample: inout Tensor, velocity: Tensor, index i: Int) throws {
        guard i >= 0, i < steps else { throw SchedulerError("step index \(i) outside 0..<\(steps)") }
        try FlowMatchEulerDiscreteScheduler.step(&sample, velocity: velocity, sigma: sigmas[i], sigmaNext: sigmas[i + 1])
    }
}
