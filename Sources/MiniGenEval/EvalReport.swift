import Foundation

/// The score of one generated image.
public struct EvalImageResult: Sendable, Codable, Equatable {
    /// Position of the prompt in the prompt list (0-based): the same text may appear more than once.
    public var promptIndex: Int
    public var prompt: String
    public var category: EvalCategory
    public var seed: UInt64
    public var correct: Bool
    public var detected: [DetectedObject]

    enum CodingKeys: String, CodingKey {
        case promptIndex = "prompt_index", prompt, category, seed, correct, detected
    }

    public init(promptIndex: Int, prompt: String, category: EvalCategory, seed: UInt64, correct: Bool,
                detected: [DetectedObject]) {
        self.promptIndex = promptIndex
        self.prompt = prompt
        self.category = category
        self.seed = seed
        self.correct = correct
        self.detected = detected
    }
}

/// Accuracies per category and overall, as GenEval reports them: a category's accuracy is its correct images
/// over its images; the overall score is the mean of the category accuracies (over the categories that have
/// prompts). Prompts outside the grammar form the `other` category, which is always 0 and enters the mean like
/// any other, so they count as failures.
public struct EvalReport: Sendable, Codable, Equatable {
    public struct CategoryScore: Sendable, Codable, Equatable {
        public var correct: Int
        public var total: Int
        public var accuracy: Double { total == 0 ? 0 : Double(correct) / Double(total) }

        enum CodingKeys: String, CodingKey { case correct, total, accuracy }
        public init(correct: Int, total: Int) { self.correct = correct; self.total = total }
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            correct = try c.decode(Int.self, forKey: .correct)
            total = try c.decode(Int.self, forKey: .total)
        }
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(correct, forKey: .correct)
            try c.encode(total, forKey: .total)
            try c.encode(accuracy, forKey: .accuracy)
        }
    }

    public var model: String
    public var imagesPerPrompt: Int
    public var seed: UInt64
    public var prompts: Int
    public var results: [EvalImageResult]

    enum CodingKeys: String, CodingKey {
        case model, imagesPerPrompt = "images_per_prompt", seed, prompts, overall, categories, unparsedPrompts = "unparsed_prompts", results
    }

    public init(model: String, imagesPerPrompt: Int, seed: UInt64, prompts: Int, results: [EvalImageResult]) {
        self.model = model
        self.imagesPerPrompt = imagesPerPrompt
        self.seed = seed
        self.prompts = prompts
        self.results = results
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decode(String.self, forKey: .model)
        imagesPerPrompt = try c.decode(Int.self, forKey: .imagesPerPrompt)
        seed = try c.decode(UInt64.self, forKey: .seed)
        prompts = try c.decode(Int.self, forKey: .prompts)
        results = try c.decode([EvalImageResult].self, forKey: .results)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(model, forKey: .model)
        try c.encode(imagesPerPrompt, forKey: .imagesPerPrompt)
        try c.encode(seed, forKey: .seed)
        try c.encode(prompts, forKey: .prompts)
        try c.encode(overall, forKey: .overall)
        try c.encode(Dictionary(uniqueKeysWithValues: categories.map { ($0.key.rawValue, $0.value) }), forKey: .categories)
        try c.encode(unparsedPrompts, forKey: .unparsedPrompts)
        try c.encode(results, forKey: .results)
    }

    /// Categories that have at least one image.
    public var categories: [EvalCategory: CategoryScore] {
        var out: [EvalCategory: CategoryScore] = [:]
        for r in results {
            var s = out[r.category] ?? CategoryScore(correct: 0, total: 0)
            s.total += 1
            if r.correct { s.correct += 1 }
            out[r.category] = s
        }
        return out
    }

    /// Mean of the category accuracies (GenEval's overall score); 0 when there are no images.
    public var overall: Double {
        let scores = categories.values
        return scores.isEmpty ? 0 : scores.map(\.accuracy).reduce(0, +) / Double(scores.count)
    }

    /// Distinct prompts outside the grammar, in order of first appearance.
    public var unparsedPrompts: [String] {
        var seen = Set<String>(), out: [String] = []
        for r in results where r.category == .other && seen.insert(r.prompt).inserted { out.append(r.prompt) }
        return out
    }

    /// The summary GenEval's summary_scores.py prints: totals (a prompt counts as correct when any of its images
    /// is), then one line per task, then the overall score.
    public func table() -> String {
        let correctImages = results.filter(\.correct).count
        // As GenEval: a prompt is correct when any of its images is.
        var byPrompt: [Int: Bool] = [:]
        for r in results { byPrompt[r.promptIndex] = (byPrompt[r.promptIndex] ?? false) || r.correct }
        let correctPrompts = byPrompt.values.filter { $0 }.count
        func pct(_ a: Int, _ b: Int) -> String { b == 0 ? "n/a" : String(format: "%.2f%%", 100 * Double(a) / Double(b)) }
        var lines = [
            "Model: \(model)",
            "",
            "Summary",
            "=======",
            "Total images: \(results.count)",
            "Total prompts: \(prompts)",
            "% correct images: \(pct(correctImages, results.count))",
            "% correct prompts: \(pct(correctPrompts, byPrompt.count))",
            "",
            "Task breakdown",
            "==============",
        ]
        for category in EvalCategory.allCases {
            guard let s = categories[category] else { continue }
            let name = category.rawValue.padding(toLength: 16, withPad: " ", startingAt: 0)
            lines.append("\(name) = \(pct(s.correct, s.total)) (\(s.correct) / \(s.total))")
        }
        if !unparsedPrompts.isEmpty {
            lines.append("")
            lines.append("\(unparsedPrompts.count) prompt\(unparsedPrompts.count == 1 ? "" : "s") outside the caption grammar (category other, scored as failures):")
            for p in unparsedPrompts.prefix(20) { lines.append("  \(p)") }
            if unparsedPrompts.count > 20 { lines.append("  … and \(unparsedPrompts.count - 20) more") }
        }
        lines.append("")
        lines.append(String(format: "Overall score (avg. over tasks): %.5f", overall))
        return lines.joined(separator: "\n")
    }

    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }
}
