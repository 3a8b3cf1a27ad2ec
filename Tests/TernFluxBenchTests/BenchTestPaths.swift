import Foundation
import JobModel

/// The package root (models/, .build/) and the built `ternflux` binary the density tests start.
enum BenchTestPaths {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static var binary: URL { packageRoot.appendingPathComponent(".build/debug/ternflux") }
}
