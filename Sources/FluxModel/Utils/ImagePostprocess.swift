import Foundation
import TernaryTensors

/// diffusers' `VaeImageProcessor.postprocess(..., output_type="pil")` for one image of a decoded batch:
/// `(x·0.5 + 0.5).clamp(0, 1)` in float32, NCHW → HWC, then numpy's `(x * 255).round().astype("uint8")`
/// (round half to even, in float32).
public enum ImagePostprocess {
    public struct Error: Swift.Error, CustomStringConvertible {
        public let description: String
    }

    /// Interleaved 8-bit RGB (`height·width·3` bytes, rows top to bottom) of image `index` of a [B, 3, H, W] sample.
    public static func toRGB8(_ sample: Tensor, index: Int) throws -> [UInt8] {
        guard sample.rank == 4, sample.shape[1] == 3 else {
            throw Error(description: "image postprocess expects a [B, 3, H, W] sample, got \(sample.shape)")
        }
        let (b, h, w) = (sample.shape[0], sample.shape[2], sample.shape[3])
        guard index >= 0, index < b else {
            throw Error(description: "image index \(index) outside the batch of \(b)")
        }
        let plane = h * w
        var out = [UInt8](repeating: 0, count: plane * 3)
        sample.storage.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                let base = index * 3 * plane
                for c in 0..<3 {
                    let channel = src.baseAddress! + base + c * plane
                    for p in 0..<plane { dst[p * 3 + c] = quantize(channel[p]) }
                }
            }
        }
        return out
    }

    /// Image `index` of a [B, 3, H, W] sample as an `RGBImage`.
    public static func image(_ sample: Tensor, index: Int) throws -> RGBImage {
        let rgb = try toRGB8(sample, index: index)
        return RGBImage(width: sample.shape[3], height: sample.shape[2], rgb: rgb)
    }

    @inline(__always)
    static func quantize(_ x: Float) -> UInt8 {
        let v = min(max(x * 0.5 + 0.5, 0), 1)   // clamp; NaN is mapped to 0 below
        guard v == v else { return 0 }
        return UInt8((v * 255).rounded(.toNearestOrEven))
    }
}
