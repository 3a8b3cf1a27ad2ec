import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Whether a webhook URL's host is a public address. An IP literal is checked as it is; a name is resolved
/// and every address it resolves to must be public (a name that resolves to 127.0.0.1 is refused too).
enum WebhookAddressCheck {
    /// nil when every address of `host` is public, else why not.
    static func problem(host: String) -> String? {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(bare, nil, &hints, &result)
        guard status == 0, let first = result else { return "cannot resolve \(host): \(String(cString: gai_strerror(status)))" }
        defer { freeaddrinfo(first) }
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let e = entry {
            if let address = e.pointee.ai_addr {
                if let why = nonPublic(address) { return "\(host) is \(why)" }
            }
            entry = e.pointee.ai_next
        }
        return nil
    }

    /// Why `address` is not a public address, or nil.
    static func nonPublic(_ address: UnsafePointer<sockaddr>) -> String? {
        switch Int32(address.pointee.sa_family) {
        case AF_INET:
            let v4 = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt32(bigEndian: $0.pointee.sin_addr.s_addr) }
            return nonPublicIPv4(v4)
        case AF_INET6:
            let bytes = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p in
                withUnsafeBytes(of: p.pointee.sin6_addr) { Array($0) }
            }
            return nonPublicIPv6(bytes)
        default:
            return "not an IP address"
        }
    }

    static func nonPublicIPv4(_ a: UInt32) -> String? {
        func within(_ base: UInt32, _ bits: UInt32) -> Bool { bits == 0 || (a >> (32 - bits)) == (base >> (32 - bits)) }
        if within(0x7F00_0000, 8) { return "a loopback address" }
        if within(0x0A00_0000, 8) || within(0xAC10_0000, 12) || within(0xC0A8_0000, 16) { return "a private address" }
        if within(0xA9FE_0000, 16) { return "a link-local address (cloud metadata services live there)" }
        if within(0x6440_0000, 10) { return "a shared (carrier-grade NAT) address" }
        if within(0x0000_0000, 8) || within(0xE000_0000, 3) { return "not a unicast address" }
        return nil
    }

    static func nonPublicIPv6(_ b: [UInt8]) -> String? {
        if b[0..<15].allSatisfy({ $0 == 0 }) { return b[15] == 1 ? "a loopback address" : "the unspecified address" }
        if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xFF && b[11] == 0xFF {
            return nonPublicIPv4(UInt32(b[12]) << 24 | UInt32(b[13]) << 16 | UInt32(b[14]) << 8 | UInt32(b[15]))
        }
        if b[0] & 0xFE == 0xFC { return "a private (unique local) address" }
        if b[0] == 0xFE && b[1] & 0xC0 == 0x80 { return "a link-local address" }
        if b[0] == 0xFF { return "a multicast address" }
        return nil
    }
}
