/// Where the time of one successful attempt went, in seconds (the store writes milliseconds to SQL). Queue
/// wait is not here: the store computes it from the job's enqueue and start times.
public struct JobTimings: Sendable, Equatable, Codable {
    /// Tokenizing and both text encoders.
    public var tokenizeEncode: Double
    public var denoiseSteps: [Double]
    public var vaeDecode: Double
    public var pngEncode: Double
    /// Writing the image (write, fsync, rename).
    public var store: Double
    /// Claim to recorded: the whole attempt as the worker saw it.
    public var total: Double
    public var peakRSSBytes: Int64

    public init(tokenizeEncode: Double, denoiseSteps: [Double], vaeDecode: Double, pngEncode: Double,
                store: Double, total: Double, peakRSSBytes: Int64) {
        self.tokenizeEncode = tokenizeEncode
        self.denoiseSteps = denoiseSteps
        self.vaeDecode = vaeDecode
        self.pngEncode = pngEncode
        self.store = store
        self.total = total
        self.peakRSSBytes = peakRSSBytes
    }

    public var denoise: Double { denoiseSteps.reduce(0, +) }
}
