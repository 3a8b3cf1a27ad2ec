import XCTest
@testable import JobStore

final class DatabaseSettingsTests: XCTestCase {
    func testResolutionPrefersFlagThenEnvironment() {
        XCTAssertEqual(DatabaseSettings.resolve("host=/tmp", environment: ["TERNFLUX_DATABASE_URL": "x"])?.conninfo, "host=/tmp")
        XCTAssertEqual(DatabaseSettings.resolve(nil, environment: ["TERNFLUX_DATABASE_URL": "postgres://u@h/db"])?.conninfo, "postgres://u@h/db")
        XCTAssertNil(DatabaseSettings.resolve(nil, environment: [:]))
    }
}
