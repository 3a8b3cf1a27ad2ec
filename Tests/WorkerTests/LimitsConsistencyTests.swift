import JobQueue
import JobStore
import XCTest

/// Every job that submit and the worker accept (JobQueue's policy limits) must be storable as running or
/// succeeded under the database's own bounds; otherwise a valid job could never be recorded.
final class LimitsConsistencyTests: XCTestCase {
    func testPolicyLimitsLieWithinTheStoredBounds() {
        let policy = JobLimits.standard
        XCTAssertTrue(StoredJobLimits.sideRange.contains(policy.sideRange.lowerBound))
        XCTAssertTrue(StoredJobLimits.sideRange.contains(policy.sideRange.upperBound))
        XCTAssertEqual(policy.sideMultiple % StoredJobLimits.sideMultiple, 0)
        XCTAssertTrue(StoredJobLimits.stepsRange.contains(policy.stepsRange.lowerBound))
        XCTAssertTrue(StoredJobLimits.stepsRange.contains(policy.stepsRange.upperBound))
        XCTAssertTrue(StoredJobLimits.guidanceRange.contains(policy.guidanceRange.lowerBound))
        XCTAssertTrue(StoredJobLimits.guidanceRange.contains(policy.guidanceRange.upperBound))
        XCTAssertLessThanOrEqual(policy.maxPromptScalars, StoredJobLimits.promptLength.upperBound)
        XCTAssertLessThanOrEqual(policy.maxModelNameLength, StoredJobLimits.modelNameLength.upperBound)
    }
}
