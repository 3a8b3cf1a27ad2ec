import FluxModel
import Foundation
import JobModel

/// A stored image: where it is and what it is (the values recorded in the job's row).
public struct StoredImage: Sendable, Equatable {
    public let url: URL
    public let sha256: String
    public let bytes: Int
}

/// An image encoded and stored by `ImageStore.store(_:batchID:jobID:)`, with the seconds of each half.
public struct EncodedImage: Sendable {
    public let stored: StoredImage
    public let pngEncodeSeconds: Double
    /// Writing, syncing and renaming the file.
    public let storeSeconds: Double
}

public enum ImageStoreError: Error, CustomStringConvertible {
    case cannotCreateDirectory(String, String)
    case cannotWrite(String, String)
    /// A path under the root is a symbolic link (or not a directory): following it could write outside the root.
    case outsideRoot(String, String)

    public var description: String {
        switch self {
        case .outsideRoot(let path, let why): return "refusing to write under \(path): \(why); images stay inside the output root"
        case .cannotCreateDirectory(let path, let why): return "cannot create output directory \(path): \(why)"
        case .cannotWrite(let path, let why): return "cannot write image \(path): \(why)"
        }
    }
}

/// Encodes images as PNG and writes them under the output root as `BATCH/JOB.png`: first to a hidden temporary
/// name in the same directory, flushed to disk, then renamed, so a reader (or a crash) never sees a partial PNG.
public struct ImageStore: Sendable {
    public let layout: OutputLayout
    static let temporaryPrefix = ".partial-"

    public init(root: URL) {
        self.layout = OutputLayout(root: root)
    }

    /// Encodes `image` as PNG with `text` chunks (the generation metadata), then stores it as
    /// `store(png:batchID:jobID:)` does; each half is timed.
    public func store(_ image: RGBImage, batchID: UUID, jobID: UUID, text: [PNGTextChunk] = []) throws -> EncodedImage {
        let encodeStart = DispatchTime.now().uptimeNanoseconds
        let png = try image.png(text: text)
        let storeStart = DispatchTime.now().uptimeNanoseconds
        let stored = try store(png: png, batchID: batchID, jobID: jobID)
        let end = DispatchTime.now().uptimeNanoseconds
        return EncodedImage(stored: stored, pngEncodeSeconds: Double(storeStart - encodeStart) / 1e9,
                            storeSeconds: Double(end - storeStart) / 1e9)
    }

    public func store(png: [UInt8], batchID: UUID, jobID: UUID) throws -> StoredImage {
        let final = layout.imageURL(batchID: batchID, jobID: jobID)
        let directory = final.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw ImageStoreError.cannotCreateDirectory(directory.path, "\(error)")
        }
        // The names are UUIDs, but the batch directory could have been replaced by a link to elsewhere.
        try Self.requireRealDirectory(directory)
        let temporary = directory.appendingPathComponent("\(Self.temporaryPrefix)\(getpid())-\(final.lastPathComponent)")
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else {
            let why = errno == ELOOP ? "it is a symbolic link" : String(cString: strerror(errno))
            throw ImageStoreError.cannotWrite(temporary.path, why)
        }
        var ok = true
        var failure = ""
        png.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    ok = false; failure = String(cString: strerror(errno)); return
                }
                offset += n
            }
        }
        if ok && fsync(fd) != 0 { ok = false; failure = String(cString: strerror(errno)) }
        close(fd)
        guard ok, rename(temporary.path, final.path) == 0 else {
            if ok { failure = String(cString: strerror(errno)) }
            unlink(temporary.path)
            throw ImageStoreError.cannotWrite(final.path, failure)
        }
        return StoredImage(url: final, sha256: SHA256.hexDigest(png), bytes: png.count)
    }

    /// A directory under the root must be a directory itself, not a symbolic link to one.
    static func requireRealDirectory(_ directory: URL) throws {
        var info = stat()
        guard lstat(directory.path, &info) == 0 else {
            throw ImageStoreError.cannotCreateDirectory(directory.path, String(cString: strerror(errno)))
        }
        switch info.st_mode & S_IFMT {
        case S_IFDIR: return
        case S_IFLNK: throw ImageStoreError.outsideRoot(directory.path, "it is a symbolic link")
        default: throw ImageStoreError.outsideRoot(directory.path, "it is not a directory")
        }
    }

    /// Removes temporary files left by a process that died mid-write (only files of dead processes).
    public func removeOrphanedTemporaries() -> Int {
        guard let batches = try? FileManager.default.contentsOfDirectory(at: layout.root, includingPropertiesForKeys: nil) else { return 0 }
        var removed = 0
        for batch in batches {
            guard let files = try? FileManager.default.contentsOfDirectory(atPath: batch.path) else { continue }
            for name in files where name.hasPrefix(Self.temporaryPrefix) {
                let rest = name.dropFirst(Self.temporaryPrefix.count)
                guard let dash = rest.firstIndex(of: "-"), let pid = Int32(rest[..<dash]) else { continue }
                if pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH {
                    if unlink(batch.appendingPathComponent(name).path) == 0 { removed += 1 }
                }
            }
        }
        return removed
    }
}
