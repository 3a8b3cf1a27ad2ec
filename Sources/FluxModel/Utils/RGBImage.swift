/// An 8-bit RGB image: `rgb` holds `height·width·3` bytes, interleaved, rows top to bottom. What the pipeline
/// returns; whoever writes it encodes it (`png()`), and the mini-GenEval scores it as it is.
public struct RGBImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public let rgb: [UInt8]

    public init(width: Int, height: Int, rgb: [UInt8]) {
        precondition(width >= 0 && height >= 0 && rgb.count == width * height * 3,
                     "an RGB image of \(width)×\(height) needs \(width * height * 3) bytes, got \(rgb.count)")
        self.width = width
        self.height = height
        self.rgb = rgb
    }

    /// The image as a PNG file (`PNGWriter.encodeRGB`), with `text` chunks (metadata) if given.
    public func png(text: [PNGTextChunk] = []) throws -> [UInt8] { try PNGWriter.encodeRGB(rgb, width: width, height: height, text: text) }
}
