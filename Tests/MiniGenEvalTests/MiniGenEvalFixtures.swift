import Foundation
import XCTest
import FluxModel
@testable import MiniGenEval

/// The ground-truth renders of Tests/Fixtures/minigeneval (ops/model/render_eval_fixtures.py).
struct GroundTruthScenes {
    struct Object: Decodable {
        let shape: String
        let color: String
        let centroid: [Double]
    }
    struct Scene: Decodable {
        let sheet: String
        let tile: Int
        let category: String
        let caption: String
        let false_caption: String
        let objects: [Object]
    }
    struct Meta: Decodable {
        let tile_size: Int
        let columns: Int
        let scenes: [Scene]
    }

    let meta: Meta
    var sheets: [String: PNGImage] = [:]

    static let folder = FluxFixtures.url("minigeneval")

    init() throws {
        meta = try JSONDecoder().decode(Meta.self, from: Data(contentsOf: Self.folder.appendingPathComponent("scenes.json")))
        for name in Set(meta.scenes.map(\.sheet)) {
            sheets[name] = try PNGReader.decode(contentsOf: Self.folder.appendingPathComponent(name))
        }
    }

    /// The scene's 128×128 RGB tile.
    func image(_ scene: Scene) -> [UInt8] {
        let sheet = sheets[scene.sheet]!
        let size = meta.tile_size
        let (row, col) = (scene.tile / meta.columns, scene.tile % meta.columns)
        var out = [UInt8]()
        out.reserveCapacity(size * size * 3)
        for y in 0..<size {
            let start = ((row * size + y) * sheet.width + col * size) * 3
            out += sheet.pixels[start..<(start + size * 3)]
        }
        return out
    }
}
