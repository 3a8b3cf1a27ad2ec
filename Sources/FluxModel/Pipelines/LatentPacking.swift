import TernaryTensors

/// FluxPipeline's latent geometry: 2×2 patch packing of VAE latents into transformer tokens (feature index
/// c·4 + dy·2 + dx), the image position ids, and the inverse.
public enum LatentPacking {
    /// [B, C, h, w] → [B, (h/2)·(w/2), C·4] (`FluxPipeline._pack_latents`).
    public static func pack(_ latents: Tensor) -> Tensor {
        precondition(latents.rank == 4, "latents must be [B, C, h, w], got \(latents.shape)")
        let (b, c, h, w) = (latents.shape[0], latents.shape[1], latents.shape[2], latents.shape[3])
        precondition(h % 2 == 0 && w % 2 == 0, "latent height and width must be even, got \(h)×\(w)")
        let hh = h / 2, ww = w / 2
        var out = Tensor(zeros: [b, hh * ww, c * 4])
        latents.storage.withUnsafeBufferPointer { src in
            out.storage.withUnsafeMutableBufferPointer { dst in
                forEachPatchElement(batch: b, channels: c, height: h, width: w) { packed, latent in dst[packed] = src[latent] }
            }
        }
        return out
    }

    /// [B, (h/2)·(w/2), C·4] → [B, C, h, w] (`FluxPipeline._unpack_latents`).
    public static func unpack(_ packed: Tensor, latentHeight h: Int, latentWidth w: Int) -> Tensor {
        precondition(packed.rank == 3 && packed.shape[1] == (h / 2) * (w / 2) && packed.shape[2] % 4 == 0,
                     "packed latents \(packed.shape) do not match a \(h)×\(w) latent")
        let b = packed.shape[0], c = packed.shape[2] / 4
        var out = Tensor(zeros: [b, c, h, w])
        packed.storage.withUnsafeBufferPointer { src in
            out.storage.withUnsafeMutableBufferPointer { dst in
                forEachPatchElement(batch: b, channels: c, height: h, width: w) { packed, latent in dst[latent] = src[packed] }
            }
        }
        return out
    }

    /// Calls `body(packedIndex, latentIndex)` for every element: the packed [B, (h/2)·(w/2), C·4] index (feature
    /// `c·4 + dy·2 + dx` of token `y·(w/2) + x`) and the [B, C, h, w] index of the same value.
    @inline(__always)
    static func forEachPatchElement(batch b: Int, channels c: Int, height h: Int, width w: Int, _ body: (Int, Int) -> Void) {
        let hh = h / 2, ww = w / 2
        for bi in 0..<b {
            for y in 0..<hh {
                for x in 0..<ww {
                    let token = (bi * hh * ww + y * ww + x) * c * 4
                    for ci in 0..<c {
                        for dy in 0..<2 {
                            for dx in 0..<2 { body(token + ci * 4 + dy * 2 + dx, ((bi * c + ci) * h + 2 * y + dy) * w + 2 * x + dx) }
                        }
                    }
                }
            }
        }
    }

    /// Position ids [(h/2)·(w/2), 3] of the packed tokens: (0, row, column) (`_prepare_latent_image_ids`).
    public static func imageIDs(latentHeight h: Int, latentWidth w: Int) -> Tensor {
        let hh = h / 2, ww = w / 2
        var ids = Tensor(zeros: [hh * ww, 3])
        for y in 0..<hh {
            for x in 0..<ww {
                ids.storage[(y * ww + x) * 3 + 1] = Float(y)
                ids.storage[(y * ww + x) * 3 + 2] = Float(x)
            }
        }
        return ids
    }

    /// Text position ids [T, 3]: all zero.
    public static func textIDs(length: Int) -> Tensor { Tensor(zeros: [length, 3]) }

    /// The VAE latent size for an image (`prepare_latents`: 2·(size / (vaeScale·2))).
    public static func latentSize(imageSize: Int, vaeScaleFactor: Int) -> Int {
        2 * (imageSize / (vaeScaleFactor * 2))
    }
}
