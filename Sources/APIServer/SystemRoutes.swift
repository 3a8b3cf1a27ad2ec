import Hummingbird

/// The routes outside /v1, none of which needs a token: `/healthz`, `/openapi.json`, and the web gallery
/// (`/` and its assets), whose script then calls /v1 with the token the user gives it.
struct SystemRoutes: Sendable {
    let services: APIServices

    func register(on router: Router<BasicRequestContext>, table: RouteTable) {
        router.route("healthz", table: table, [(.get, { try await health($0, $1) })])
        router.route("openapi.json", table: table, [(.get, { _, _ in Self.asset(OpenAPIDocument.json, type: "application/json") })])
        router.route("/", table: table, [(.get, { _, _ in Self.page() })])
        router.route("assets/app.js", table: table, [(.get, { _, _ in Self.asset(WebAssets.script, type: "text/javascript; charset=utf-8") })])
        router.route("assets/app.css", table: table, [(.get, { _, _ in Self.asset(WebAssets.styles, type: "text/css; charset=utf-8") })])
        router.route("assets/favicon.svg", table: table, [(.get, { _, _ in Self.asset(WebAssets.icon, type: "image/svg+xml") })])
    }

    /// `GET /healthz`: `ok` when PostgreSQL answers a query, else 503 with the JSON error.
    func health(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        _ = try QueryParameters(request.uri.query, allowed: [])
        _ = try await services.reads.run { try $0.db.execute("SELECT 1") }
        return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8", .cacheControl: "no-store"],
                        body: ResponseBody(byteBuffer: ByteBuffer(string: "ok\n")))
    }

    static func asset(_ text: String, type: String) -> Response {
        Response(status: .ok, headers: [.contentType: type, .cacheControl: "no-cache"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    /// The page, with a policy that lets it load only its own script and styles, talk only to this server,
    /// and show images only from object URLs it made (`blob:`), and that keeps other sites from framing it
    /// (the page itself asks for no referrer).
    static func page() -> Response {
        var response = asset(WebAssets.page, type: "text/html; charset=utf-8")
        response.headers[.contentSecurityPolicy] = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
            + "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        return response
    }
}
