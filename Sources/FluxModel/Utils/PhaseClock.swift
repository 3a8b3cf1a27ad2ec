import Foundation

/// Wall-clock laps for phase timings: each `lap()` is the seconds since the previous one (or since creation).
struct PhaseClock {
    private var last = DispatchTime.now().uptimeNanoseconds
    mutating func lap() -> Double {
        let now = DispatchTime.now().uptimeNanoseconds
        defer { last = now }
        return Double(now - last) / 1e9
    }
}
