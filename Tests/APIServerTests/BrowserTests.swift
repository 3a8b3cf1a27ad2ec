@testable import APIServer
import Foundation
import XCTest

/// The gallery in a real browser: Debian's chromium driven by Selenium (ops/web/browser_check.py) against a
/// live server with tokens and a batch that workers finished (three images, one failed job). The script
/// enters the token in the page, checks the batches list and its progress bar, the thumbnails (loaded through
/// object URLs) and the failed job's error, submits an invalid batch (line errors shown) and a valid one,
/// cancels it, and saves a screenshot of each page.
final class BrowserTests: XCTestCase {
    func testTheGalleryInChromium() throws {
        let python = try APIHarness.requireWebPython()
        let token = "browser-submit-token-0123456789"
        let harness = try APIHarness { $0.tokens = try! APITokens.parse("\(token) submit", source: "test") }
        let batch = try harness.finishedBatchWithAFailure(token: token)
        // TERNFLUX_SCREENSHOTS keeps the screenshots (docs/img is made that way); else a temporary folder.
        let keep = ProcessInfo.processInfo.environment["TERNFLUX_SCREENSHOTS"]
        let shots = keep.map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("ternflux-shots-\(UUID().uuidString.prefix(8))")
        defer { if keep == nil { try? FileManager.default.removeItem(at: shots) } }
        let run = try APIHarness.run(python, [APIHarness.packageRoot.appendingPathComponent("ops/web/browser_check.py").path,
                                              harness.baseURL, shots.path, "--batch", batch.uuidString.lowercased(),
                                              "--expect-error", "unknown model 'nope'", "--token", token], timeout: 180)
        XCTAssertEqual(run.status, 0, "browser check failed:\n\(run.output)")
        for name in ["batches.png", "batch.png", "submit.png", "canceled.png"] {
            let size = (try? FileManager.default.attributesOfItem(atPath: shots.appendingPathComponent(name).path)[.size] as? Int) ?? 0
            XCTAssertGreaterThan(size, 10_000, "screenshot \(name)")
        }
        // What the browser did is in the database too: the form's batch, canceled.
        let formBatch = try XCTUnwrap(harness.repository.recentBatches().first { $0.name == "browser-check" })
        XCTAssertEqual([formBatch.total, formBatch.canceled], [4, 4])
        print(run.output)
    }
}
