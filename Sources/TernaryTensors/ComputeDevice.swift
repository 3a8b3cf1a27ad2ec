import CCUDA

/// Where the ternary block linears of a model run: the CPU kernels, or a CUDA device (its W2A8 kernels,
/// weights resident on the device; the rest of the pipeline on the CPU for now, docs/gpu.md).
public enum ComputeDevice: Equatable, Sendable, CustomStringConvertible {
    case cpu
    case cuda(Int)

    public var description: String {
        switch self {
        case .cpu: return "cpu"
        case .cuda(let ordinal): return "cuda:\(ordinal)"
        }
    }
}

/// What a user asks for with `--device` or `TERNFLUX_DEVICE`: `cpu`, `cuda` (device 0), `cuda:N` or `auto`
/// (CUDA when a driver and a usable device are found, else the CPU).
public enum DeviceChoice: Equatable, Sendable, CustomStringConvertible {
    case cpu
    case cuda(Int)
    case auto

    public static let environmentVariable = "TERNFLUX_DEVICE"
    public static let forms = "cpu, cuda, cuda:N or auto"

    public struct InvalidValue: Error, CustomStringConvertible, Equatable {
        public let source: String
        public let value: String
        public var description: String { "\(source) '\(value)' is not a device: use \(DeviceChoice.forms)" }
    }

    /// Parses one value; `source` names where it came from (`--device`, `TERNFLUX_DEVICE`) in the error.
    public init(parsing text: String, source: String = "--device") throws {
        switch text {
        case "cpu": self = .cpu
        case "auto": self = .auto
        case "cuda": self = .cuda(0)
        default:
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, parts[0] == "cuda", !parts[1].isEmpty, parts[1].allSatisfy(\.isASCII),
                  parts[1].allSatisfy(\.isNumber), let ordinal = Int(parts[1]), ordinal < 64 else {
                throw InvalidValue(source: source, value: text)
            }
            self = .cuda(ordinal)
        }
    }

    /// The command line's value if given, else the environment's, else `fallback`.
    public init(option: String?, environment: [String: String], fallback: DeviceChoice = .auto) throws {
        if let option {
            self = try DeviceChoice(parsing: option, source: "--device")
        } else if let value = environment[Self.environmentVariable], !value.isEmpty {
            self = try DeviceChoice(parsing: value, source: Self.environmentVariable)
        } else {
            self = fallback
        }
    }

    public var description: String {
        switch self {
        case .cpu: return "cpu"
        case .auto: return "auto"
        case .cuda(let ordinal): return "cuda:\(ordinal)"
        }
    }

    /// The device this choice gives on this machine. `auto` never fails: without a usable CUDA device it is the
    /// CPU, and `reason` says why. `cuda` asked and not available throws `CUDAUnavailable`, naming what is
    /// missing (no driver, no device, compute capability too old).
    public func resolve() throws -> (device: ComputeDevice, reason: String) {
        switch self {
        case .cpu:
            return (.cpu, "asked for")
        case .cuda(let ordinal):
            let info = try CUDADevice.probe(ordinal)
            return (.cuda(ordinal), info.summary)
        case .auto:
            do {
                let info = try CUDADevice.probe(0)
                return (.cuda(0), info.summary)
            } catch let error as CUDAUnavailable {
                return (.cpu, "no usable CUDA device: \(error.reason)")
            }
        }
    }
}

/// A CUDA device asked for and not usable; `reason` is the driver probe's message.
public struct CUDAUnavailable: Error, CustomStringConvertible, Equatable {
    public let ordinal: Int
    public let reason: String
    public var description: String { "cuda:\(ordinal) is not available: \(reason)" }
}

/// The driver's view of one device (tf_cuda_probe).
public struct CUDADevice: Sendable, Equatable {
    public let ordinal: Int
    public let name: String
    public let computeCapability: (major: Int, minor: Int)
    public let driverVersion: Int
    public let totalMemory: Int

    public var summary: String {
        "\(name), compute capability \(computeCapability.major).\(computeCapability.minor), "
            + "\(totalMemory / (1 << 20)) MiB, driver CUDA \(driverVersion / 1000).\(driverVersion % 1000 / 10)"
    }

    public static func == (a: CUDADevice, b: CUDADevice) -> Bool {
        a.ordinal == b.ordinal && a.name == b.name && a.computeCapability == b.computeCapability
            && a.driverVersion == b.driverVersion && a.totalMemory == b.totalMemory
    }

    /// Opens the driver (once per process) and describes device `ordinal`, or throws why it cannot be used.
    public static func probe(_ ordinal: Int) throws -> CUDADevice {
        var info = tf_cuda_device_info()
        var message = [CChar](repeating: 0, count: 512)
        let status = tf_cuda_probe(Int32(ordinal), &info, &message, message.count)
        guard status == TF_CUDA_OK else { throw CUDAUnavailable(ordinal: ordinal, reason: String(cString: message)) }
        let name = withUnsafeBytes(of: info.name) { raw in
            String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
        }
        return CUDADevice(ordinal: ordinal, name: name, computeCapability: (Int(info.compute_major), Int(info.compute_minor)),
                          driverVersion: Int(info.driver_version), totalMemory: Int(info.total_memory))
    }

    /// Free and total bytes of device memory now.
    public static func memory(_ ordinal: Int) throws -> (free: Int, total: Int) {
        var free = 0, total = 0
        var message = [CChar](repeating: 0, count: 512)
        guard tf_cuda_memory_info(Int32(ordinal), &free, &total, &message, message.count) == TF_CUDA_OK else {
            throw CUDAUnavailable(ordinal: ordinal, reason: String(cString: message))
        }
        return (free, total)
    }
}
