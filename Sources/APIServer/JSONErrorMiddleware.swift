import Hummingbird
import JobStore
import Logging
import NIOCore

/// Turns every error a route (or the router, for an unknown path or method) throws into the API's JSON error body,
/// so no client ever sees Hummingbird's empty error responses, and stamps `nosniff` on every answer. Bad
/// input is answered by the route with its own 4xx `APIError`; what reaches the fallback at the end is a
/// bug, logged with the request and answered 500 without internal details.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger
    /// To tell a path with no route (404) from a route asked with a method it does not take (405).
    let routes: RouteTable

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            response = apiError(for: error, request: request).response()
        }
        response.headers[.xContentTypeOptions] = "nosniff"
        return response
    }

    func apiError(for error: any Error, request: Request) -> APIError {
        switch error {
        case let error as APIError:
            return error
        case let error as PostgresError where error.isConnectionError:
            return .databaseUnavailable(error)
        case is NIOTooManyBytesError:
            return APIError(.contentTooLarge, "the request body is too large")
        case let error as any HTTPResponseError where error.status == .notFound:
            // Only the router throws Hummingbird's own 404 (the routes throw APIError): no route took the request.
            if let allowed = routes.allowedMethods(for: request.uri.path) {
                let list = allowed.joined(separator: ", ")
                return APIError(.methodNotAllowed, "\(request.method.rawValue) is not allowed on \(request.uri.path); allowed: \(list)",
                                headers: [.allow: list])
            }
            return .notFound("no route \(request.method.rawValue) \(request.uri.path); the API is described at /openapi.json")
        case let error as any HTTPResponseError where error.status.code < 500:
            return APIError(error.status, error.status.reasonPhrase.lowercased())
        default:
            logger.error("request failed", metadata: ["method": "\(request.method.rawValue)", "path": "\(request.uri.path)",
                                                      "error": "\(error)"])
            return APIError(.internalServerError, "internal error (logged by the server)")
        }
    }
}
