import XCTest
import Foundation
@testable import Worker

final class OutputLayoutTests: XCTestCase {
    func testImagePathStaysUnderRoot() {
        let layout = OutputLayout(root: URL(fileURLWithPath: "/srv/out/../images"))
        let b = UUID(), j = UUID()
        let url = layout.imageURL(batchID: b, jobID: j)
        XCTAssertEqual(url.path, "/srv/images/\(b.uuidString.lowercased())/\(j.uuidString.lowercased()).png")
    }
}
