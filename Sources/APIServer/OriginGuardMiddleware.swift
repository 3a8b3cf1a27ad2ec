import Hummingbird

/// Keeps other web sites' pages from using the API through a visitor's browser.
///
/// - A request with an `Origin` header (browsers send one on every cross-origin request and on same-origin
///   POSTs) is refused (403) unless that origin is this server as the request addresses it (`Host`): a page
///   elsewhere cannot submit or cancel through a browser that reaches this server, even with a "simple"
///   `text/plain` POST that needs no CORS preflight.
/// - Without tokens (loopback only), the `Host` must name this machine (`localhost`, `127.x.x.x`, `[::1]`):
///   a DNS-rebinding page, whose requests carry its own domain as Host, gets a 403 instead of the API.
///
/// Tokens are never sent by a browser on its own (the gallery keeps them in localStorage, not in a cookie),
/// so with tokens the first rule is defence in depth and the second is not needed (a proxy may rename hosts).
struct OriginGuardMiddleware<Context: RequestContext>: RouterMiddleware {
    let requireLoopbackHost: Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // HTTP/1 Host arrives as the request's authority (HTTPTypes moves it out of the header fields).
        let host = request.head.authority ?? ""
        if requireLoopbackHost && !APIServerConfiguration.isLoopback(Self.hostName(host)) {
            throw APIError(.forbidden, "Host '\(host.prefix(100))' is not this machine: without tokens the API answers only requests "
                + "addressed to localhost, 127.0.0.1 or [::1]")
        }
        if let origin = request.headers[.origin], origin != Self.ownOrigin(host: host) {
            throw APIError(.forbidden, "cross-origin request from '\(origin.prefix(100))' refused: the API takes requests from its "
                + "own pages and from clients that send no Origin")
        }
        return try await next(request, context)
    }

    /// `example.org:8080` → `example.org`, `[::1]:8080` → `::1`.
    static func hostName(_ host: String) -> String {
        if host.hasPrefix("["), let end = host.firstIndex(of: "]") { return String(host[host.index(after: host.startIndex)..<end]) }
        return String(host.split(separator: ":", maxSplits: 1).first ?? "")
    }

    /// The origin of a page this server served for `host`: it speaks plain HTTP (TLS ends at a proxy, which
    /// passes Host through), so `http://HOST`.
    static func ownOrigin(host: String) -> String { "http://" + host.lowercased() }
}
