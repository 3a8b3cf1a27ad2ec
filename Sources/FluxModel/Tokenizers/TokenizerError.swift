import Foundation

/// Why a tokenizer could not be loaded. Every case names the file and, where there is one, the field.
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    /// A file the tokenizer needs is not in the folder.
    case missingFile(path: String)
    /// The file exists but could not be read or is not valid JSON / text.
    case unreadable(path: String, reason: String)
    /// A field is missing, has the wrong type or an invalid value.
    case malformed(path: String, field: String, reason: String)
    /// The tokenizer uses a component this implementation does not provide.
    case unsupported(path: String, field: String, value: String)

    public var description: String {
        switch self {
        case .missingFile(let path):
            return "tokenizer file not found: \(path)"
        case .unreadable(let path, let reason):
            return "cannot read tokenizer file \(path): \(reason)"
        case .malformed(let path, let field, let reason):
            return "malformed tokenizer file \(path): field `\(field)`: \(reason)"
        case .unsupported(let path, let field, let value):
            return "unsupported tokenizer component in \(path): field `\(field)` = \(value)"
        }
    }
}

/// Typed access to a parsed JSON object that turns every type mismatch into a `TokenizerError`
/// naming the file and the dotted path of the field.
struct TokenizerJSON {
    let path: String
    let field: String
    let object: [String: Any]

    init(path: String, field: String = "", object: [String: Any]) {
        self.path = path
        self.field = field
        self.object = object
    }

    static func load(_ url: URL) throws -> TokenizerJSON {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw TokenizerError.missingFile(path: url.path)
        }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw TokenizerError.unreadable(path: url.path, reason: "\(error)")
        }
        let parsed: Any
        do { parsed = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) } catch {
            throw TokenizerError.unreadable(path: url.path, reason: "not valid JSON (\(error.localizedDescription))")
        }
        guard let object = parsed as? [String: Any] else {
            throw TokenizerError.malformed(path: url.path, field: "(root)", reason: "expected a JSON object")
        }
        return TokenizerJSON(path: url.path, object: object)
    }

    func name(_ key: String) -> String { field.isEmpty ? key : "\(field).\(key)" }

    func error(_ key: String, _ reason: String) -> TokenizerError {
        .malformed(path: path, field: name(key), reason: reason)
    }

    func has(_ key: String) -> Bool {
        guard let v = object[key] else { return false }
        return !(v is NSNull)
    }

    func raw(_ key: String) throws -> Any {
        guard let v = object[key], !(v is NSNull) else { throw error(key, "missing") }
        return v
    }

    func string(_ key: String) throws -> String {
        guard let s = try raw(key) as? String else { throw error(key, "expected a string") }
        return s
    }

    func optionalString(_ key: String) throws -> String? {
        has(key) ? try string(key) : nil
    }

    func bool(_ key: String, default fallback: Bool) throws -> Bool {
        guard has(key) else { return fallback }
        guard let b = object[key] as? Bool else { throw error(key, "expected true or false") }
        return b
    }

    func int(_ key: String) throws -> Int {
        guard let n = try raw(key) as? NSNumber else { throw error(key, "expected an integer") }
        let d = n.doubleValue
        guard d == d.rounded(), abs(d) < 9.0e15 else { throw error(key, "expected an integer, got \(n)") }
        return Int(d)
    }

    func optionalInt(_ key: String) throws -> Int? {
        has(key) ? try int(key) : nil
    }

    func object(_ key: String) throws -> TokenizerJSON {
        guard let o = try raw(key) as? [String: Any] else { throw error(key, "expected an object") }
        return TokenizerJSON(path: path, field: name(key), object: o)
    }

    func optionalObject(_ key: String) throws -> TokenizerJSON? {
        has(key) ? try object(key) : nil
    }

    func array(_ key: String) throws -> [Any] {
        guard let a = try raw(key) as? [Any] else { throw error(key, "expected an array") }
        return a
    }

    /// The elements of an array of objects, each addressed as `key[i]`.
    func objects(_ key: String) throws -> [TokenizerJSON] {
        try array(key).enumerated().map { i, element in
            guard let o = element as? [String: Any] else { throw error("\(key)[\(i)]", "expected an object") }
            return TokenizerJSON(path: path, field: name("\(key)[\(i)]"), object: o)
        }
    }
}
