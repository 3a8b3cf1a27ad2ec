import XCTest
@testable import JobQueue

final class KafkaSettingsTests: XCTestCase {
    func testPropertiesParseAndRejectMalformed() throws {
        XCTAssertEqual(try KafkaSettings.parseProperties(["security.protocol=SASL_SSL", "a=b=c"]),
                       ["security.protocol": "SASL_SSL", "a": "b=c"])
        XCTAssertThrowsError(try KafkaSettings.parseProperties(["novalue"])) { error in
            XCTAssertTrue("\(error)".contains("novalue"))
        }
    }

    func testBrokerResolutionPrefersFlag() {
        XCTAssertEqual(KafkaSettings.resolveBrokers("a:1", environment: ["TERNFLUX_KAFKA_BROKERS": "b:2"]), "a:1")
        XCTAssertEqual(KafkaSettings.resolveBrokers(nil, environment: ["TERNFLUX_KAFKA_BROKERS": "b:2"]), "b:2")
        XCTAssertNil(KafkaSettings.resolveBrokers(nil, environment: [:]))
    }
}
