/// HMAC-SHA256 (RFC 2104): the signature of a webhook body, `X-TernFlux-Signature: sha256=HEX`, which a
/// receiver recomputes with the shared secret to know the POST came from TernFlux and was not changed.
public enum HMACSHA256 {
    public static func authenticate(_ message: [UInt8], key: [UInt8]) -> [UInt8] {
        let blockSize = 64
        var k = key.count > blockSize ? hash(key) : key
        k += [UInt8](repeating: 0, count: blockSize - k.count)
        var inner = SHA256()
        inner.update(k.map { $0 ^ 0x36 })
        inner.update(message)
        var outer = SHA256()
        outer.update(k.map { $0 ^ 0x5c })
        outer.update(inner.finalize())
        return outer.finalize()
    }

    /// Lower-case hex of `authenticate(message, key)`.
    public static func hexSignature(_ message: [UInt8], key: [UInt8]) -> String {
        SHA256.hex(authenticate(message, key: key))
    }

    static func hash(_ bytes: [UInt8]) -> [UInt8] {
        var h = SHA256()
        h.update(bytes)
        return h.finalize()
    }
}
