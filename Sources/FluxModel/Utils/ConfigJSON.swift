import Foundation

/// A JSON document written the way diffusers' and transformers' `save_pretrained` write `config.json`:
/// Python's `json.dumps(value, indent=2, sort_keys=True)` plus a newline. Used for the configs `ternflux convert`
/// writes, so they read (and diff) like the ones in a diffusers folder.
public indirect enum ConfigJSON: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([ConfigJSON])
    case object([String: ConfigJSON])

    /// The document text (keys sorted, two-space indent, `"key": value`, ASCII only).
    public var text: String {
        var out = ""
        write(to: &out, indent: 0)
        return out + "\n"
    }

    private func write(to out: inout String, indent: Int) {
        let pad = String(repeating: " ", count: indent + 2)
        let close = String(repeating: " ", count: indent)
        switch self {
        case .null: out += "null"
        case let .bool(b): out += b ? "true" : "false"
        case let .int(i): out += String(i)
        case let .double(d): out += Self.python(d)
        case let .string(s): out += Self.quoted(s)
        case let .array(items):
            if items.isEmpty { out += "[]"; return }
            out += "[\n"
            for (i, item) in items.enumerated() {
                out += pad
                item.write(to: &out, indent: indent + 2)
                out += i < items.count - 1 ? ",\n" : "\n"
            }
            out += close + "]"
        case let .object(members):
            if members.isEmpty { out += "{}"; return }
            out += "{\n"
            let keys = members.keys.sorted()
            for (i, key) in keys.enumerated() {
                out += pad + Self.quoted(key) + ": "
                members[key]!.write(to: &out, indent: indent + 2)
                out += i < keys.count - 1 ? ",\n" : "\n"
            }
            out += close + "}"
        }
    }

    /// Python's `repr(float)`: shortest round-trip digits, always with a '.' or an exponent ("1.0", "1e-05").
    static func python(_ d: Double) -> String {
        guard d.isFinite else { return d.isNaN ? "NaN" : (d > 0 ? "Infinity" : "-Infinity") }
        var s = "\(d)"   // Swift prints the shortest round-trip form too: "0.3611", "1e-05", "1e+16", "3.0"
        if !s.contains(".") && !s.contains("e") { s += ".0" }
        return s
    }

    static func quoted(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 || u.value > 0x7e {
                    // ensure_ascii: \uXXXX, with a surrogate pair above the BMP
                    if u.value > 0xffff {
                        let v = u.value - 0x10000
                        out += String(format: "\\u%04x\\u%04x", 0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff))
                    } else {
                        out += String(format: "\\u%04x", u.value)
                    }
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}
