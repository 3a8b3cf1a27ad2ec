import FluxModel
import JobModel
import XCTest

/// The job limits on classifier-free guidance are the pipeline's: a scale a job may ask for never fails in
/// the pipeline, and the pipeline takes nothing a job may not ask for.
final class GuidanceLimitsTests: XCTestCase {
    func testTheJobLimitsTrueCFGRangeIsThePipelines() {
        let job = JobLimits.standard.trueCFGScaleRange
        XCTAssertEqual(Float(job.lowerBound), TrueCFG.scaleRange.lowerBound)
        XCTAssertEqual(Float(job.upperBound), TrueCFG.scaleRange.upperBound)
    }
}
