/// One mini-GenEval run: every prompt × `imagesPerPrompt` images, each generated, detected and judged.
/// Image j of prompt i gets seed `seed + i·imagesPerPrompt + j`, so a run is reproducible and a prompt set
/// with one image per prompt uses consecutive seeds.
public struct MiniGenEvalRun {
    public struct Options: Sendable {
        public var imagesPerPrompt = 1
        public var seed: UInt64 = 0
        /// Images per category kept for the sample grid (the first ones, in prompt order).
        public var gridImagesPerCategory = 0
        public init() {}
    }

    /// An image as generated: interleaved 8-bit RGB.
    public typealias Generate = (_ prompt: String, _ seed: UInt64) throws -> (rgb: [UInt8], width: Int, height: Int)

    public var detector = SceneDetector()
    public var options: Options

    public init(options: Options) { self.options = options }

    /// Runs every image; `progress(done, total, result)` after each. Returns the scores and the grid tiles.
    public func run(model: String, prompts: [(text: String, prompt: EvalPrompt)], generate: Generate,
                    progress: ((Int, Int, EvalImageResult) -> Void)? = nil) throws -> (report: EvalReport, grid: [EvalGrid.Tile]) {
        precondition(options.imagesPerPrompt >= 1, "images per prompt must be ≥ 1")
        let total = prompts.count * options.imagesPerPrompt
        var results: [EvalImageResult] = []
        results.reserveCapacity(total)
        var gridTiles: [EvalCategory: [EvalGrid.Tile]] = [:]
        for (i, p) in prompts.enumerated() {
            for j in 0..<options.imagesPerPrompt {
                let seed = options.seed &+ UInt64(i * options.imagesPerPrompt + j)
                let image = try generate(p.text, seed)
                let objects = try detector.detect(rgb: image.rgb, width: image.width, height: image.height)
                let correct = EvalJudge.isCorrect(p.prompt, objects)
                let result = EvalImageResult(promptIndex: i, prompt: p.text, category: p.prompt.category, seed: seed, correct: correct,
                                             detected: objects)
                results.append(result)
                if gridTiles[result.category, default: []].count < options.gridImagesPerCategory {
                    gridTiles[result.category, default: []].append(EvalGrid.Tile(
                        rgb: image.rgb, width: image.width, height: image.height,
                        caption: "\(p.text) (seed \(seed))", correct: correct))
                }
                progress?(results.count, total, result)
            }
        }
        let tiles = EvalCategory.allCases.flatMap { gridTiles[$0] ?? [] }
        return (EvalReport(model: model, imagesPerPrompt: options.imagesPerPrompt, seed: options.seed,
                           prompts: prompts.count, results: results), tiles)
    }
}
