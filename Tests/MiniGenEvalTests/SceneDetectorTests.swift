import XCTest
import FluxModel
@testable import MiniGenEval

/// The detector and judge on 600 ground-truth renders from the scene generator: every caption must be judged
/// true, every deliberately false caption false, and the objects found must be the objects drawn.
final class SceneDetectorTests: XCTestCase {
    static let truth = Result { try GroundTruthScenes() }

    func testDetectorAndJudgeOnGroundTruthRenders() throws {
        let truth = try Self.truth.get()
        XCTAssertEqual(truth.meta.scenes.count, 600)
        XCTAssertEqual(Set(truth.meta.scenes.map(\.category)).count, 6)
        let detector = SceneDetector()
        var trueJudged = 0, falseRejected = 0, objectsExact = 0
        var failures: [String] = []
        for scene in truth.meta.scenes {
            let prompt = EvalPrompt(parsing: scene.caption)
            XCTAssertEqual(prompt.category.rawValue, scene.category, scene.caption)
            XCTAssertEqual(EvalPrompt(parsing: scene.false_caption).category.rawValue, scene.category, scene.false_caption)
            let found = try detector.detect(rgb: truth.image(scene), width: 128, height: 128)
            if EvalJudge.isCorrect(prompt, found) { trueJudged += 1 } else { failures.append("missed: \(scene.caption) \(found)") }
            if !EvalJudge.isCorrect(EvalPrompt(parsing: scene.false_caption), found) { falseRejected += 1 } else {
                failures.append("accepted false: \(scene.false_caption) \(found)")
            }
            // The same objects (shape, colour), and centroids equal to the generator's mask centroids.
            let drawn = scene.objects.map { "\($0.color) \($0.shape)" }.sorted()
            let seen = found.map { "\($0.color) \($0.shape)" }.sorted()
            let centroidsMatch = scene.objects.allSatisfy { o in
                found.contains { $0.shape == o.shape && $0.color == o.color
                    && abs($0.centroidX - o.centroid[0]) < 1e-3 && abs($0.centroidY - o.centroid[1]) < 1e-3 }
            }
            if drawn == seen && centroidsMatch { objectsExact += 1 } else { failures.append("objects: drew \(drawn), found \(found)") }
        }
        let n = truth.meta.scenes.count
        print("mini-GenEval ground truth: captions judged true \(trueJudged)/\(n), false captions rejected \(falseRejected)/\(n), "
              + "objects exact \(objectsExact)/\(n)")
        XCTAssertGreaterThanOrEqual(Double(trueJudged), 0.99 * Double(n), failures.prefix(10).joined(separator: "\n"))
        XCTAssertGreaterThanOrEqual(Double(falseRejected), 0.99 * Double(n), failures.prefix(10).joined(separator: "\n"))
        XCTAssertGreaterThanOrEqual(Double(objectsExact), 0.99 * Double(n), failures.prefix(10).joined(separator: "\n"))
    }

    func testNoiseNearPaletteColoursAndSpecks() throws {
        // A 40×40 square whose pixels are up to ±20 off the palette red, a 5×5 speck and a far-off colour.
        let w = 96, h = 64
        var rgb = [UInt8](repeating: 235, count: w * h * 3)
        var state: UInt32 = 1
        func jitter(_ v: UInt8) -> UInt8 {
            state = state &* 1_103_515_245 &+ 12345
            return UInt8(clamping: Int(v) + Int((state >> 16) % 41) - 20)
        }
        for y in 10..<50 { for x in 10..<50 {
            let o = (y * w + x) * 3
            rgb[o] = jitter(220); rgb[o + 1] = jitter(40); rgb[o + 2] = jitter(40)
        } }
        for y in 5..<10 { for x in 70..<75 { let o = (y * w + x) * 3; rgb[o] = 40; rgb[o + 1] = 80; rgb[o + 2] = 220 } }
        for y in 30..<60 { for x in 60..<90 { let o = (y * w + x) * 3; rgb[o] = 0; rgb[o + 1] = 255; rgb[o + 2] = 255 } }
        let found = try SceneDetector().detect(rgb: rgb, width: w, height: h)
        XCTAssertEqual(found.count, 1, "\(found)")
        XCTAssertEqual(found.first?.shape, "square")
        XCTAssertEqual(found.first?.color, "red")
        XCTAssertEqual(found.first?.area, 1600)
        XCTAssertEqual(found.first?.centroidX ?? 0, 30, accuracy: 1e-9)
    }

    func testWrongBufferSizeIsAnError() {
        XCTAssertThrowsError(try SceneDetector().detect(rgb: [1, 2, 3], width: 2, height: 2)) { error in
            XCTAssertTrue("\(error)".contains("2×2×3 = 12 RGB bytes, got 3"), "\(error)")
        }
    }

    func testPositionNeedsTheGrammarsMargin() {
        let a = DetectedObject(shape: "circle", color: "red", area: 500, centroidX: 30, centroidY: 60)
        func b(_ x: Double, _ y: Double) -> DetectedObject {
            DetectedObject(shape: "square", color: "blue", area: 500, centroidX: x, centroidY: y)
        }
        let left = EvalPrompt(parsing: "a red circle to the left of a blue square")
        XCTAssertTrue(EvalJudge.isCorrect(left, [a, b(50, 60)]))      // 20 px apart, same row
        XCTAssertFalse(EvalJudge.isCorrect(left, [a, b(49, 60)]))     // under 20 px
        XCTAssertFalse(EvalJudge.isCorrect(left, [a, b(80, 90)]))     // 50 px across but 30 px down: not ≥ 2×
        XCTAssertTrue(EvalJudge.isCorrect(left, [a, b(90, 85)]))      // 60 across, 25 down
        XCTAssertFalse(EvalJudge.isCorrect(EvalPrompt(parsing: "a red circle to the right of a blue square"), [a, b(50, 60)]))
        XCTAssertTrue(EvalJudge.isCorrect(EvalPrompt(parsing: "a red circle above a blue square"), [a, b(30, 90)]))
        XCTAssertFalse(EvalJudge.isCorrect(left, [a]))
    }

    func testCountingNeedsExactCountAllInColour() {
        func c(_ color: String, _ x: Double) -> DetectedObject {
            DetectedObject(shape: "circle", color: color, area: 500, centroidX: x, centroidY: 10)
        }
        let three = EvalPrompt(parsing: "three red circles")
        XCTAssertTrue(EvalJudge.isCorrect(three, [c("red", 1), c("red", 2), c("red", 3)]))
        XCTAssertFalse(EvalJudge.isCorrect(three, [c("red", 1), c("red", 2)]))
        XCTAssertFalse(EvalJudge.isCorrect(three, [c("red", 1), c("red", 2), c("red", 3), c("red", 4)]))
        XCTAssertFalse(EvalJudge.isCorrect(three, [c("red", 1), c("red", 2), c("blue", 3)]))
        XCTAssertFalse(EvalJudge.isCorrect(.unparsed("three red circles please"), [c("red", 1), c("red", 2), c("red", 3)]))
    }
}
