import Foundation
import Hummingbird

/// A route's handler: every route of the API answers a `Response` (or throws an `APIError`).
typealias RouteHandler = @Sendable (Request, BasicRequestContext) async throws -> Response

/// Every path the server routes and the methods it takes there, so that a request for a known path with
/// another method (any method: PUT, DELETE, QUERY, …) is answered 405 with `Allow`, not Hummingbird's 404.
/// Filled while the router is built, read-only once the server runs.
final class RouteTable: @unchecked Sendable {
    private var entries: [(segments: [String], methods: [String])] = []

    /// `pattern` as the router has it, from the root: `/v1/batches/:batch_id`.
    func add(_ pattern: String, methods: [HTTPRequest.Method]) {
        var names = methods.map(\.rawValue)
        if methods.contains(.get) { names.append(HTTPRequest.Method.head.rawValue) }
        entries.append((Self.segments(pattern), names))
    }

    /// The methods `path` takes, or nil when no route has that path.
    func allowedMethods(for path: String) -> [String]? {
        let parts = Self.segments(path)
        return entries.first { entry in
            entry.segments.count == parts.count
                && zip(entry.segments, parts).allSatisfy { pattern, part in pattern.hasPrefix(":") || pattern == part }
        }?.methods
    }

    /// Every routed pattern, `/v1/batches/:batch_id`, in the order added.
    var patterns: [String] { entries.map { "/" + $0.segments.joined(separator: "/") } }

    static func segments(_ path: String) -> [String] { path.split(separator: "/").map(String.init) }
}

extension RouterMethods where Context == BasicRequestContext {
    /// Registers `handlers` for `path` (relative to this group, whose own path is `prefix`) and records the
    /// path and its methods in `table`. HEAD is allowed where GET is (the router derives it from GET).
    @discardableResult
    func route(_ path: String, prefix: String = "", table: RouteTable, _ handlers: [(HTTPRequest.Method, RouteHandler)]) -> Self {
        for (method, handler) in handlers { on(RouterPath(path), method: method, use: handler) }
        table.add(prefix + "/" + path, methods: handlers.map(\.0))
        return self
    }
}
