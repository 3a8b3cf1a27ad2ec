import Foundation

/// Paths of the committed fixtures (Tests/Fixtures, see its README.md) and of the package.
enum FluxFixtures {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")
    static func url(_ relative: String) -> URL { root.appendingPathComponent(relative) }
}
