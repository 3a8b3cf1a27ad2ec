import Foundation
import Hummingbird
import JobModel

/// A request's query string, read strictly: `application/x-www-form-urlencoded` decoding (`+` is a space,
/// `%2B` a plus), every name known to the route, none given twice. Anything else is a 400 naming the
/// parameter, so a typo (`?limt=5`) is never silently ignored.
struct QueryParameters {
    private var values: [String: String] = [:]
    /// The names given, in order.
    private(set) var names: [String] = []

    init(_ query: String?, allowed: Set<String>) throws {
        guard let query, !query.isEmpty else { return }
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let rawName = String(parts[0])
            guard let name = Self.decode(rawName) else {
                throw APIError.badRequest("query parameter name '\(rawName.prefix(80))' is not valid percent-encoding")
            }
            guard allowed.contains(name) else {
                let known = allowed.sorted().joined(separator: ", ")
                throw APIError.badRequest("unknown query parameter '\(name.prefix(80))' (\(known.isEmpty ? "this route takes none" : "known: \(known)"))")
            }
            guard values[name] == nil else { throw APIError.badRequest("query parameter '\(name)' is given more than once") }
            let rawValue = parts.count > 1 ? String(parts[1]) : ""
            guard let value = Self.decode(rawValue) else {
                throw APIError.badRequest("query parameter '\(name)' is not valid percent-encoding")
            }
            values[name] = value
            names.append(name)
        }
    }

    static func decode(_ text: String) -> String? {
        text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }

    var isEmpty: Bool { values.isEmpty }

    func string(_ name: String) -> String? { values[name] }

    /// An integer parameter, read exactly as batch files read numbers; `range` bounds it (a 400 outside).
    func integer(_ name: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let text = values[name] else { return nil }
        switch JobLimits.readInteger(text, within: Int64(range.lowerBound)...Int64(range.upperBound)) {
        case .failure(let problem): throw APIError.badRequest("query parameter '\(name)' \(problem.message)")
        case .success(let value):
            guard value >= Int64(range.lowerBound), value <= Int64(range.upperBound) else {
                throw APIError.badRequest("query parameter '\(name)' must be within \(range.lowerBound)...\(range.upperBound), got \(text)")
            }
            return Int(value)
        }
    }

    /// A parameter read with one of `JobLimits`' exact readers; only text that is no number of the field's kind
    /// is refused here (400): a number out of the field's range goes on to the batch's validation (422).
    func read<T>(_ name: String, _ reader: (String) -> Result<T, NumberProblem>) throws -> T? {
        guard let text = values[name] else { return nil }
        switch reader(text) {
        case .success(let value): return value
        case .failure(let problem): throw APIError.badRequest("query parameter '\(name)' \(problem.message)")
        }
    }

    /// `true`/`false` (also `1`/`0`).
    func bool(_ name: String) throws -> Bool? {
        guard let text = values[name] else { return nil }
        switch text.lowercased() {
        case "true", "1": return true
        case "false", "0": return false
        default: throw APIError.badRequest("query parameter '\(name)' must be true or false, got '\(text.prefix(40))'")
        }
    }

    func state(_ name: String) throws -> JobState? {
        guard let text = values[name] else { return nil }
        guard let state = JobState(rawValue: text) else {
            let states = JobState.allCases.map(\.rawValue).joined(separator: ", ")
            throw APIError.badRequest("query parameter '\(name)' must be one of \(states), got '\(text.prefix(40))'")
        }
        return state
    }
}

extension Parameters {
    /// A UUID path parameter (`/v1/batches/{batch_id}`); anything else is a 400 naming the parameter.
    func uuid(_ name: String) throws -> UUID {
        let text = get(name) ?? ""
        guard let id = UUID(uuidString: text) else {
            throw APIError.badRequest("path parameter '\(name)' must be a UUID, got '\(text.prefix(80))'")
        }
        return id
    }
}
