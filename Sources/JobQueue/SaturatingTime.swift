/// Seconds as nanoseconds for deadlines on the uptime clock, saturating instead of trapping: a limit given as
/// 1e300 s (or infinity) means "never", not a crash. Negative and NaN durations are 0.
package func saturatingNanoseconds(_ seconds: Double) -> UInt64 {
    let nanos = seconds * 1e9
    guard nanos > 0 else { return 0 }
    return nanos >= 1.8e19 ? UInt64.max : UInt64(nanos)
}

/// `now + seconds` on the uptime clock (nanoseconds), saturating at `UInt64.max`.
package func uptimeDeadline(from now: UInt64, afterSeconds seconds: Double) -> UInt64 {
    let (sum, overflow) = now.addingReportingOverflow(saturatingNanoseconds(seconds))
    return overflow ? UInt64.max : sum
}
