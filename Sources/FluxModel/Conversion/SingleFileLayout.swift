import Foundation
import TernaryTensors

/// Which models a single-file checkpoint holds, by the names of its tensors:
///
/// | names | layout | component |
/// |---|---|---|
/// | `img_in.*`, `txt_in.*`, `time_in.*`, `vector_in.*`, `guidance_in.*`, `double_blocks.*`, `single_blocks.*`, `final_layer.*` | BFL (flux1-dev / flux1-schnell.safetensors) | transformer |
/// | the same under `model.diffusion_model.` | ComfyUI / Forge bundle | transformer |
/// | `encoder.*`, `decoder.*`, `quant_conv.*`, `post_quant_conv.*` (LDM names: `down.N.block.M`, `mid.block_1`, …) | BFL `ae.safetensors` | VAE |
/// | the same under `vae.` or `first_stage_model.` | bundle | VAE |
/// | `text_encoders.clip_l.*` | bundle | CLIP-L text encoder |
/// | `text_encoders.t5xxl.*` | bundle | T5-XXL text encoder |
///
/// Names of the diffusers layout (`transformer_blocks.*`, `x_embedder.*`, `encoder.down_blocks.*`, …) are
/// recognised too, so that a diffusers file, or a file mixing both layouts, is refused with a clear message.
public struct SingleFileLayout: Sendable {
    public var transformer: SourceComponent?
    public var vae: SourceComponent?
    public var clip: SourceComponent?
    public var t5: SourceComponent?

    public var components: [SourceComponent] { [transformer, vae, clip, t5].compactMap { $0 } }

    static let bundleTransformerPrefix = "model.diffusion_model."
    static let vaePrefixes = ["vae.", "first_stage_model."]
    static let clipPrefix = "text_encoders.clip_l."
    static let t5Prefix = "text_encoders.t5xxl."

    static let bflTransformerRoots = ["img_in.", "txt_in.", "time_in.", "vector_in.", "guidance_in.", "double_blocks.",
                                      "single_blocks.", "final_layer."]
    static let diffusersTransformerRoots = ["x_embedder.", "context_embedder.", "time_text_embed.", "transformer_blocks.",
                                            "single_transformer_blocks.", "norm_out.", "proj_out."]
    static let vaeRoots = ["encoder.", "decoder.", "quant_conv.", "post_quant_conv."]
    /// Parts of names that only diffusers' AutoencoderKL uses (LDM says down.N, up.N, mid.block_N, norm_out).
    static let diffusersVAEMarks = [".down_blocks.", ".up_blocks.", ".mid_block.", ".conv_norm_out."]

    private enum Kind { case transformer, vae, clip, t5, diffusers, unknown }

    /// Sorts every tensor of `file` into a component; fails on unknown, mixed or diffusers-only names.
    public static func classify(_ file: SafeTensorsFile) throws -> SingleFileLayout {
        var groups: [Kind: (prefix: String, names: [String])] = [:]
        var conflict: (kind: Kind, first: String, second: String)?
        func add(_ kind: Kind, _ prefix: String, _ name: String) {
            // One component under two prefixes (a bare transformer beside model.diffusion_model.*) is two models.
            if let g = groups[kind], g.prefix != prefix {
                if conflict == nil { conflict = (kind, g.prefix + (g.names.first ?? ""), name) }
                return
            }
            groups[kind, default: (prefix, [])].names.append(String(name.dropFirst(prefix.count)))
        }
        // A VAE named the diffusers way shares conv_in / conv_out / quant_conv names with LDM: decide per prefix.
        var diffusersVAEPrefixes = Set<String>()
        for name in file.tensorNames where diffusersVAEMarks.contains(where: name.contains) {
            diffusersVAEPrefixes.insert(vaePrefixes.first(where: name.hasPrefix) ?? "")
        }
        for name in file.tensorNames {
            if name.hasPrefix(bundleTransformerPrefix) {
                let rest = name.dropFirst(bundleTransformerPrefix.count)
                if bflTransformerRoots.contains(where: rest.hasPrefix) { add(.transformer, bundleTransformerPrefix, name) }
                else if diffusersTransformerRoots.contains(where: rest.hasPrefix) { add(.diffusers, "", name) }
                else { add(.unknown, "", name) }
            } else if let p = vaePrefixes.first(where: name.hasPrefix) {
                let rest = name.dropFirst(p.count)
                if diffusersVAEPrefixes.contains(p) { add(.diffusers, "", name) }
                else if vaeRoots.contains(where: rest.hasPrefix) { add(.vae, p, name) }
                else { add(.unknown, "", name) }
            } else if name.hasPrefix(clipPrefix) {
                add(.clip, clipPrefix, name)
            } else if name.hasPrefix(t5Prefix) {
                add(.t5, t5Prefix, name)
            } else if bflTransformerRoots.contains(where: name.hasPrefix) {
                add(.transformer, "", name)
            } else if diffusersTransformerRoots.contains(where: name.hasPrefix) {
                add(.diffusers, "", name)
            } else if vaeRoots.contains(where: name.hasPrefix) {
                if diffusersVAEPrefixes.contains("") { add(.diffusers, "", name) }
                else { add(.vae, "", name) }
            } else {
                add(.unknown, "", name)
            }
        }
        if let conflict {
            let label = conflict.kind == .transformer ? "transformer" : "VAE"
            throw ConversionError.duplicateComponent(component: label, first: "\(file.url.path) ('\(conflict.first)')",
                                                     second: "'\(conflict.second)' in the same file")
        }
        let single = [Kind.transformer, .vae, .clip, .t5].flatMap { k in (groups[k]?.names ?? []).map { (groups[k]!.prefix) + $0 } }
        if let unknown = groups[.unknown]?.names {
            throw ConversionError.unknownLayout(path: file.url.path, keys: Array(unknown.prefix(8)), total: unknown.count)
        }
        if let diffusers = groups[.diffusers]?.names {
            if single.isEmpty { throw ConversionError.alreadyDiffusers(path: file.url.path, keys: Array(diffusers.prefix(5))) }
            throw ConversionError.mixedLayout(path: file.url.path, diffusers: Array(diffusers.prefix(5)), singleFile: Array(single.prefix(5)))
        }
        if single.isEmpty { throw ConversionError.unknownLayout(path: file.url.path, keys: [], total: 0) }
        var layout = SingleFileLayout()
        func component(_ kind: Kind, _ label: String) -> SourceComponent? {
            groups[kind].map { SourceComponent(file: file, prefix: $0.prefix, component: label, names: $0.names) }
        }
        layout.transformer = component(.transformer, "transformer")
        layout.vae = component(.vae, "VAE")
        layout.clip = component(.clip, "CLIP-L text encoder")
        layout.t5 = component(.t5, "T5-XXL text encoder")
        return layout
    }
}
