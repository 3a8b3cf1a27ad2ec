import Hummingbird

/// Bearer-token authentication of the /v1 routes (RFC 6750): with tokens configured, every request needs
/// `Authorization: Bearer TOKEN` with a known token (else 401), and a POST needs a submit token (else 403).
/// Without tokens it lets everything through; the server then only listens on loopback (`APIServer`).
struct BearerAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let tokens: APITokens

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if tokens.isEmpty { return try await next(request, context) }
        guard let header = request.headers[.authorization] else {
            throw Self.unauthorized("this server needs a token: send Authorization: Bearer TOKEN", challenge: #"Bearer realm="ternflux""#)
        }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw Self.unauthorized("the Authorization header must be `Bearer TOKEN`", challenge: #"Bearer realm="ternflux", error="invalid_request""#)
        }
        guard let scope = tokens.scope(of: parts[1].trimmingCharacters(in: .whitespaces)) else {
            throw Self.unauthorized("the bearer token is not valid", challenge: #"Bearer realm="ternflux", error="invalid_token""#)
        }
        let needed: TokenScope = request.method == .post ? .submit : .read
        guard scope.allows(needed) else {
            throw APIError(.forbidden, "this token may only read; \(request.method.rawValue) \(request.uri.path) needs a submit token",
                           headers: [.wwwAuthenticate: #"Bearer realm="ternflux", error="insufficient_scope", scope="submit""#])
        }
        return try await next(request, context)
    }

    static func unauthorized(_ message: String, challenge: String) -> APIError {
        APIError(.unauthorized, message, headers: [.wwwAuthenticate: challenge])
    }
}
