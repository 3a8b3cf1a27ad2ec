import Foundation
import TernaryTensors

/// A runtime failure of a FLUX command (not a usage error), printed as is.
struct FluxCommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Peak resident set size of this process (getrusage ru_maxrss, kilobytes on Linux).
enum PeakRSS {
    static func bytes() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Int(usage.ru_maxrss) * 1024
    }
}
