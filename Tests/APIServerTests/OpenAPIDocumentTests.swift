@testable import APIServer
import Foundation
import Logging
import XCTest

/// The hand-written OpenAPI document against the server: the same routes and methods, and every documented
/// operation answering with a status it documents, in the media type it documents.
final class OpenAPIDocumentTests: XCTestCase {
    func document() throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json.utf8)) as? [String: Any])
    }

    /// "/v1/batches/{batch_id}" → "/v1/batches/:batch_id", as the router spells it.
    func routerPattern(_ path: String) -> String {
        path.replacingOccurrences(of: "{", with: ":").replacingOccurrences(of: "}", with: "")
    }

    func testTheDocumentDescribesExactlyTheRoutes() throws {
        let doc = try document()
        XCTAssertEqual(doc["openapi"] as? String, "3.0.3")
        let schemes = ((doc["components"] as? [String: Any])?["securitySchemes"] as? [String: Any])?["bearerAuth"] as? [String: Any]
        XCTAssertEqual(schemes?["scheme"] as? String, "bearer")
        let paths = try XCTUnwrap(doc["paths"] as? [String: [String: Any]])
        let harness = try APIHarness(start: false)
        let table = RouteTable()
        _ = APIServer.makeRouter(services: try APIServer(configuration: harness.configuration, logger: Logger(label: "t")).services,
                                 tokens: .none, logger: Logger(label: "t"), table: table)
        for (path, operations) in paths {
            let documented = Set(operations.keys.map { $0.uppercased() })
            let routed = Set((table.allowedMethods(for: routerPattern(path)) ?? []).filter { $0 != "HEAD" })
            XCTAssertEqual(documented, routed, "\(path): documented \(documented.sorted()), routed \(routed.sorted())")
        }
        XCTAssertEqual(table.patterns.map(\.self).sorted(), paths.keys.map(routerPattern).sorted(), "every route is documented")
        // /v1 needs the bearer token; the rest says it needs none.
        for (path, operations) in paths {
            for (method, operation) in operations {
                let security = (operation as? [String: Any])?["security"] as? [Any]
                if path.hasPrefix("/v1/") { XCTAssertNil(security, "\(method) \(path) takes the document's bearer security") }
                else { XCTAssertEqual(security?.count, 0, "\(method) \(path) needs no token") }
            }
        }
    }

    func testEveryOperationAnswersAsDocumented() throws {
        let harness = try APIHarness()
        let batch = try harness.finishedBatchWithAFailure()
        let job = try XCTUnwrap(harness.repository.batchJobs(batch).first { $0.state == .succeeded }).jobID
        let paths = try XCTUnwrap(try document()["paths"] as? [String: [String: [String: Any]]])
        for (path, operations) in paths {
            for (method, operation) in operations {
                let concrete = path.replacingOccurrences(of: "{batch_id}", with: batch.uuidString.lowercased())
                    .replacingOccurrences(of: "{job_id}", with: job.uuidString.lowercased())
                let response = method == "post" && path == "/v1/batches"
                    ? try harness.client.post(concrete, text: "a documented prompt", contentType: "text/plain")
                    : try harness.client.request(method.uppercased(), concrete)
                let responses = try XCTUnwrap(operation["responses"] as? [String: Any])
                XCTAssertNotNil(responses[String(response.status)], "\(method) \(path) answered \(response.status), not documented")
                XCTAssertLessThan(response.status, 300, "\(method) \(path) works: \(response)")
                let documentedTypes = try documentedContentTypes(responses[String(response.status)], in: try document())
                let type = response.headers["content-type"]?.split(separator: ";").first.map(String.init) ?? ""
                XCTAssertTrue(documentedTypes.contains(type), "\(method) \(path): \(type) not in \(documentedTypes)")
            }
        }
    }

    func documentedContentTypes(_ response: Any?, in doc: [String: Any]) throws -> Set<String> {
        var object = try XCTUnwrap(response as? [String: Any])
        if let ref = object["$ref"] as? String {
            let name = String(ref.split(separator: "/").last!)
            object = try XCTUnwrap(((doc["components"] as? [String: Any])?["responses"] as? [String: Any])?[name] as? [String: Any])
        }
        return Set(((object["content"] as? [String: Any]) ?? [:]).keys)
    }
}
