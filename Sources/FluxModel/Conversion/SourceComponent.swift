import Foundation
import TernaryTensors

/// One model inside a single-file checkpoint: the tensors of `file` whose names start with `prefix`, addressed
/// by the rest of the name. A mapping takes each tensor it converts (or deliberately leaves out) from here, so
/// whatever is left at the end is a tensor the mapping does not know, and is reported instead of dropped.
public final class SourceComponent: @unchecked Sendable {
    public let file: SafeTensorsFile
    public let prefix: String
    /// "transformer", "VAE", "CLIP-L text encoder", … (for messages).
    public let component: String
    /// Names without the prefix, in header order.
    public let names: [String]
    private let nameSet: Set<String>
    private var taken: Set<String> = []
    /// Tensors left out on purpose, with the reason (for the log).
    public private(set) var skipped: [(name: String, reason: String)] = []

    init(file: SafeTensorsFile, prefix: String, component: String, names: [String]) {
        self.file = file
        self.prefix = prefix
        self.component = component
        self.names = names
        self.nameSet = Set(names)
    }

    public var path: String { file.url.path }
    public func has(_ name: String) -> Bool { nameSet.contains(name) }
    public func fullName(_ name: String) -> String { prefix + name }

    public func info(_ name: String) throws -> TensorInfo {
        guard has(name) else { throw ConversionError.missingTensor(path: path, component: component, tensor: fullName(name)) }
        return try file.info(fullName(name))
    }

    public func shape(_ name: String) throws -> [Int] { try info(name).shape }

    /// The size of dimension `dim` of `name`, requiring the tensor to have `rank` dimensions.
    public func dimension(_ name: String, _ dim: Int, rank: Int) throws -> Int {
        let s = try shape(name)
        guard s.count == rank else {
            throw ConversionError.cannotInfer(path: path, component: component,
                                              detail: "tensor '\(fullName(name))' has shape \(s), expected \(rank) dimensions")
        }
        return s[dim]
    }

    /// Fails naming the tensor unless its shape is `expected`.
    public func check(_ name: String, _ expected: [Int], _ reason: @autoclosure () -> String) throws {
        let actual = try shape(name)
        guard actual == expected else {
            throw ConversionError.shapeMismatch(path: path, tensor: fullName(name), expected: expected, actual: actual, reason: reason())
        }
    }

    /// Number of `<group>.<i>.` blocks: the highest index + 1 (as diffusers counts them); every index below it
    /// must be present.
    public func blockCount(_ group: String) throws -> Int {
        let lead = group + "."
        var indices = Set<Int>()
        for name in names where name.hasPrefix(lead) {
            let rest = name.dropFirst(lead.count)
            guard let dot = rest.firstIndex(of: "."), let i = Int(rest[..<dot]), i >= 0 else { continue }
            indices.insert(i)
        }
        guard let highest = indices.max() else { return 0 }
        if let gap = (0...highest).first(where: { !indices.contains($0) }) {
            throw ConversionError.missingTensor(path: path, component: component,
                                                tensor: "\(fullName(lead))\(gap).* (blocks 0…\(highest) are numbered, \(gap) is missing)")
        }
        return highest + 1
    }

    /// The whole tensor under a new name (and, for a reshape that keeps every byte in place, a new shape).
    public func whole(_ name: String, as output: String, shape: [Int]? = nil) throws -> SlicedTensor {
        _ = try info(name)
        taken.insert(name)
        return try SlicedTensor.whole(fullName(name), of: file, as: output, shape: shape)
    }

    /// Rows `rows` along dim 0 (a contiguous byte range of a row-major tensor).
    public func rows(_ rows: Range<Int>, of name: String, as output: String) throws -> SlicedTensor {
        _ = try info(name)
        taken.insert(name)
        return try SlicedTensor.rows(rows, of: fullName(name), in: file, as: output)
    }

    /// The two halves along dim 0 in swapped order.
    public func halvesSwapped(_ name: String, as output: String) throws -> SlicedTensor {
        _ = try info(name)
        taken.insert(name)
        return try SlicedTensor.halvesSwapped(fullName(name), of: file, as: output)
    }

    /// Leaves a tensor out on purpose.
    public func skip(_ name: String, reason: String) {
        taken.insert(name)
        skipped.append((fullName(name), reason))
    }

    /// Fails naming the tensors no mapping took.
    public func requireAllTaken() throws {
        let left = names.filter { !taken.contains($0) }
        guard left.isEmpty else {
            throw ConversionError.unexpectedTensors(path: path, component: component, tensors: left.map(fullName), total: left.count)
        }
    }
}
