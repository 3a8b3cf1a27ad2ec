@testable import APIServer
import Foundation
import XCTest

/// Bearer tokens: the tokens file, 401 without or with a wrong token, 403 for a read token's POST, no token
/// for /healthz, /openapi.json and the page; and no tokens means loopback only.
final class AuthTests: XCTestCase {
    static let submitToken = "submit-0123456789abcdef"
    static let readToken = "read-0123456789abcdef+/="

    func testTokensFileLinesAndTheirErrors() throws {
        let tokens = try APITokens.parse("""
            # who may do what
            \(Self.submitToken) submit

               \(Self.readToken)\tread
            """, source: "tokens.txt")
        XCTAssertEqual(tokens.count, 2)
        XCTAssertEqual(tokens.scope(of: Self.submitToken), .submit)
        XCTAssertEqual(tokens.scope(of: Self.readToken), .read)
        XCTAssertNil(tokens.scope(of: "submit-0123456789abcdeX"))
        XCTAssertNil(tokens.scope(of: ""))
        XCTAssertTrue(TokenScope.submit.allows(.read) && !TokenScope.read.allows(.submit))

        let cases: [(String, String)] = [
            ("short read", "tokens file t, line 1: the token is 5 characters long; at least 16 are needed"),
            ("# c\n0123456789abcdefgh write", "tokens file t, line 2: scope must be read or submit, got 'write'"),
            ("0123456789abcdefgh", "tokens file t, line 1: expected `TOKEN read` or `TOKEN submit`, got 1 field"),
            ("0123456789abcdefgh read extra", "tokens file t, line 1: expected `TOKEN read` or `TOKEN submit`, got 3 fields"),
            ("0123456789abcdef\"gh read", "tokens file t, line 1: the token may hold only letters, digits and -._~+/ (with = only at the end)"),
            ("0123456789abcdef=gh read", "tokens file t, line 1: the token may hold only letters, digits and -._~+/ (with = only at the end)"),
            ("0123456789abcdefgh read\n\n0123456789abcdefgh submit", "tokens file t, line 3: this token is already given on line 1"),
            ("# only a comment\n", "tokens file t: holds no tokens"),
        ]
        for (text, message) in cases {
            XCTAssertThrowsError(try APITokens.parse(text, source: "t"), text) { error in
                XCTAssertEqual("\(error)", message)
                XCTAssertFalse("\(error)".contains("0123456789abcdefgh"), "an error never repeats a token")
            }
        }
        XCTAssertThrowsError(try APITokens.load(file: "/nonexistent/tokens")) { error in
            XCTAssertTrue("\(error)".hasPrefix("tokens file /nonexistent/tokens: cannot be read"), "\(error)")
        }
    }

    func testWithoutTokensOnlyLoopbackIsAccepted() throws {
        for host in ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LOCALHOST"] {
            XCTAssertTrue(APIServerConfiguration.isLoopback(host), host)
        }
        for host in ["0.0.0.0", "::", "10.0.0.1", "128.0.0.1", "example.org", "::2", ""] {
            XCTAssertFalse(APIServerConfiguration.isLoopback(host), host)
        }
        let open = APIServerConfiguration(host: "0.0.0.0", outputRoot: URL(fileURLWithPath: "/tmp"), database: .init(conninfo: "x"),
                                          kafka: .init(brokers: "127.0.0.1:1"))
        XCTAssertEqual(open.problem(), .notLoopbackWithoutTokens("0.0.0.0"))
        XCTAssertTrue(open.problem()!.description.contains("--tokens-file"))
        var withTokens = open
        withTokens.tokens = try APITokens.parse("\(Self.submitToken) submit", source: "t")
        XCTAssertNil(withTokens.problem())

        // The command refuses it before it binds anything.
        let cli = try APIHarness.run(APIHarness.ternflux, ["serve", "--host", "0.0.0.0", "--port", "0", "--database-url", "host=/nonexistent",
                                                           "--brokers", "127.0.0.1:1"], timeout: 30)
        XCTAssertNotEqual(cli.status, 0)
        XCTAssertTrue(cli.output.contains("refusing to listen on 0.0.0.0 without tokens"), cli.output)
        let tokensFile = FileManager.default.temporaryDirectory.appendingPathComponent("bad-tokens-\(UUID().uuidString.prefix(6))")
        try Data("# ok\nshort submit\n".utf8).write(to: tokensFile)
        defer { try? FileManager.default.removeItem(at: tokensFile) }
        let badFile = try APIHarness.run(APIHarness.ternflux, ["serve", "--port", "0", "--tokens-file", tokensFile.path, "--database-url", "host=/nonexistent",
                                                               "--brokers", "127.0.0.1:1"], timeout: 30)
        XCTAssertNotEqual(badFile.status, 0)
        XCTAssertTrue(badFile.output.contains("\(tokensFile.path), line 2: the token is 5 characters long"), badFile.output)
    }

    func testScopesOnEveryKindOfRoute() throws {
        let harness = try APIHarness { $0.tokens = try! APITokens.parse("\(Self.submitToken) submit\n\(Self.readToken) read", source: "t") }
        let client = harness.client
        // No token: 401 with a challenge, on reads and writes alike.
        for (method, path) in [("GET", "/v1/batches"), ("POST", "/v1/batches"), ("GET", "/v1/jobs/\(UUID().uuidString)")] {
            let response = try client.request(method, path)
            XCTAssertEqual(response.status, 401, "\(method) \(path): \(response)")
            XCTAssertEqual(response.headers["www-authenticate"], #"Bearer realm="ternflux""#)
            XCTAssertTrue(response.errorMessage.contains("Authorization: Bearer"), response.description)
        }
        let wrong = try client.get("/v1/batches", token: "submit-0123456789abcdeX")
        XCTAssertEqual(wrong.status, 401)
        XCTAssertTrue(wrong.headers["www-authenticate"]?.contains("invalid_token") ?? false)
        let basic = try client.get("/v1/batches", headers: ["Authorization": "Basic dXNlcjpwYXNz"])
        XCTAssertEqual(basic.status, 401)
        XCTAssertEqual(basic.errorMessage, "the Authorization header must be `Bearer TOKEN`")

        // A read token reads, and may not POST (403), not even a cancel.
        XCTAssertEqual(try client.get("/v1/batches", token: Self.readToken).status, 200)
        let readPost = try client.post("/v1/batches", text: "a prompt", contentType: "text/plain", token: Self.readToken)
        XCTAssertEqual(readPost.status, 403, readPost.description)
        XCTAssertTrue(readPost.headers["www-authenticate"]?.contains("insufficient_scope") ?? false)
        let id = try harness.submit("{\"prompt\": \"by submit token\"}", token: Self.submitToken)
        XCTAssertEqual(try client.post("/v1/batches/\(id.uuidString.lowercased())/cancel", token: Self.readToken).status, 403)
        XCTAssertEqual(try harness.repository.batchProgress(id)?.canceled, 0)
        XCTAssertEqual(try client.post("/v1/batches/\(id.uuidString.lowercased())/cancel", token: Self.submitToken).status, 200)
        XCTAssertEqual(try client.get("/v1/batches/\(id.uuidString.lowercased())", token: Self.submitToken).status, 200, "submit implies read")

        // What needs no token.
        for path in ["/healthz", "/openapi.json", "/", "/assets/app.js", "/assets/app.css"] {
            XCTAssertEqual(try client.get(path).status, 200, path)
        }
    }
}

/// Other web sites' pages cannot use the API through a visitor's browser: a foreign Origin is refused, and
/// without tokens so is a Host that is not this machine (DNS rebinding).
final class OriginGuardTests: XCTestCase {
    func testForeignOriginsAndHostsAreRefused() throws {
        let harness = try APIHarness()
        let client = harness.client
        let own = "http://127.0.0.1:\(harness.port)"
        // What a page elsewhere can send without a CORS preflight: a text/plain POST.
        let forged = try client.request("POST", "/v1/batches", body: Data("a forged prompt".utf8),
                                        headers: ["Content-Type": "text/plain", "Origin": "http://evil.example"])
        XCTAssertEqual(forged.status, 403, forged.description)
        XCTAssertTrue(forged.errorMessage.contains("cross-origin request from 'http://evil.example' refused"), forged.description)
        XCTAssertEqual(try client.request("POST", "/v1/batches/\(UUID().uuidString)/cancel", headers: ["Origin": "null"]).status, 403)
        XCTAssertEqual(try harness.repository.recentBatches().count, 0, "nothing was submitted")
        // The gallery's own requests (same origin) and clients without Origin (curl, programs) are served.
        let ownPost = try client.request("POST", "/v1/batches", body: Data("a prompt".utf8), headers: ["Content-Type": "text/plain", "Origin": own])
        XCTAssertEqual(ownPost.status, 201, ownPost.description)
        XCTAssertEqual(try client.get("/v1/batches", headers: ["Origin": own]).status, 200)
        XCTAssertEqual(try client.request("GET", "/v1/batches", headers: ["Origin": "http://127.0.0.1:1"]).status, 403, "another port is another origin")
        // A rebinding page reaches 127.0.0.1 under its own name: the Host gives it away.
        let rebound = try client.request("GET", "/v1/batches", headers: ["Host": "rebind.evil.example:\(harness.port)"])
        XCTAssertEqual(rebound.status, 403, rebound.description)
        XCTAssertTrue(rebound.errorMessage.contains("is not this machine"), rebound.description)
        for host in ["localhost:\(harness.port)", "[::1]:\(harness.port)"] {
            XCTAssertEqual(try client.request("GET", "/healthz", headers: ["Host": host]).status, 200, host)
        }
    }

    func testWithTokensAnyHostIsServed() throws {
        let token = "origin-test-token-0123456789"
        let harness = try APIHarness { $0.tokens = try! APITokens.parse("\(token) submit", source: "t") }
        let proxied = try harness.client.request("GET", "/v1/batches", token: token, headers: ["Host": "ternflux.example.org"])
        XCTAssertEqual(proxied.status, 200, "behind a proxy the Host is the proxy's name: \(proxied)")
        let page = try harness.client.request("GET", "/v1/batches", token: token,
                                              headers: ["Host": "ternflux.example.org", "Origin": "http://ternflux.example.org"])
        XCTAssertEqual(page.status, 200, page.description)
        XCTAssertEqual(try harness.client.request("GET", "/v1/batches", token: token,
                                                  headers: ["Host": "ternflux.example.org", "Origin": "https://evil.example"]).status, 403)
    }
}
