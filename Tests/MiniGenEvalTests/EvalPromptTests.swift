import Foundation
import XCTest
import FluxModel
@testable import MiniGenEval

final class EvalPromptTests: XCTestCase {
    func testParsesEveryCategory() {
        XCTAssertEqual(EvalPrompt(parsing: "a circle"), .singleObject(shape: "circle"))
        XCTAssertEqual(EvalPrompt(parsing: "  an orange square "), .colors(color: "orange", shape: "square"))
        XCTAssertEqual(EvalPrompt(parsing: "a triangle and a square"), .twoObject("triangle", "square"))
        XCTAssertEqual(EvalPrompt(parsing: "four purple triangles"), .counting(count: 4, color: "purple", shape: "triangle"))
        XCTAssertEqual(EvalPrompt(parsing: "a red circle and an orange square"),
                       .colorAttr(colorA: "red", shapeA: "circle", colorB: "orange", shapeB: "square"))
        XCTAssertEqual(EvalPrompt(parsing: "a red circle to the right of a blue square"),
                       .position(colorA: "red", shapeA: "circle", relation: "to the right of", colorB: "blue", shapeB: "square"))
        XCTAssertEqual(EvalPrompt(parsing: "a green square below a yellow triangle").category, .position)
    }

    func testOutsideTheGrammarIsUnparsed() {
        for text in ["a dog", "five red circles", "two red circle", "a red circle next to a blue square", "A red circle",
                     "a red  circle", "red circle", "a red circle and", "", "a circle and a square and a triangle",
                     "a pink circle", "three red circless"] {
            XCTAssertEqual(EvalPrompt(parsing: text).category, .other, text)
        }
        XCTAssertEqual(EvalPrompt(parsing: " a dog ").caption, "a dog")
    }

    func testGrammarEnumerationMatchesTheGenerator() {
        // scenes.py: 3 / 18 / 6 / 180 / 54 / 1224 distinct captions, 1485 in all.
        let counts = EvalCategory.grammarCategories.map { DefaultEvalPrompts.allPrompts($0).count }
        XCTAssertEqual(counts, [3, 6, 54, 18, 1224, 180])
        for category in EvalCategory.grammarCategories {
            let all = DefaultEvalPrompts.allPrompts(category)
            XCTAssertEqual(Set(all.map(\.caption)).count, all.count)
            for p in all { XCTAssertEqual(EvalPrompt(parsing: p.caption), p, p.caption) }
        }
        XCTAssertEqual(EvalPrompt.colors(color: "orange", shape: "circle").caption, "an orange circle")
    }

    func testDefaultSetIsBalancedAndDeterministic() {
        let set = DefaultEvalPrompts.prompts()
        XCTAssertEqual(set.count, 420)
        XCTAssertEqual(set, DefaultEvalPrompts.prompts())
        for category in EvalCategory.grammarCategories {
            let ofCategory = set.filter { $0.category == category }
            XCTAssertEqual(ofCategory.count, 70, category.rawValue)
            var uses: [String: Int] = [:]
            for p in ofCategory { uses[p.caption, default: 0] += 1 }
            let distinct = min(70, DefaultEvalPrompts.allPrompts(category).count)
            XCTAssertEqual(uses.count, distinct, category.rawValue)
            XCTAssertLessThanOrEqual(uses.values.max()! - uses.values.min()!, 1, category.rawValue)
        }
        // A fixed set: its first prompts are part of the contract of the published numbers.
        XCTAssertEqual(set.prefix(3).map(\.caption).count, 3)
        XCTAssertEqual(set.first?.category, .singleObject)
    }
}
