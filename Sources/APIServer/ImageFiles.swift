import Foundation
import NIOCore
import Worker

/// Reads a job's image for `GET /v1/jobs/{id}/image` from the one place the worker writes it: the job's
/// `OutputLayout` path under the server's output root (`--output`), `ROOT/BATCH/JOB.png`. The path is built
/// from the two UUIDs, never from the job row's `output_uri`, so no row can point the server at another
/// file; and neither the batch folder nor the file may be a symbolic link (both are opened with O_NOFOLLOW,
/// the file relative to the opened folder), so no link placed under the root can lead out of it either.
/// Only the root itself is resolved, once per read, as the operator may have made it a link.
struct ImageFiles: Sendable {
    let root: URL
    /// Largest image served: far above any PNG of the largest allowed job (2048×2048 RGB is at most ~12 MiB).
    static let maximumBytes = 64 << 20

    enum Failure: Error, Equatable {
        /// Nothing (readable) at the layout path, or something there that is not a plain file.
        case missing(String)
        case tooLarge(Int)
    }

    /// The image's bytes, or why there are none.
    func read(batchID: UUID, jobID: UUID) throws -> ByteBuffer {
        let layout = OutputLayout(root: resolvedRoot())
        let file = layout.imageURL(batchID: batchID, jobID: jobID)
        let folder = file.deletingLastPathComponent()
        let folderFD = open(folder.path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard folderFD >= 0 else { throw Failure.missing("batch folder: \(String(cString: strerror(errno)))") }
        defer { close(folderFD) }
        let fd = openat(folderFD, file.lastPathComponent, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw Failure.missing("image file: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw Failure.missing("image file: \(String(cString: strerror(errno)))") }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw Failure.missing("image file: not a regular file") }
        let size = Int(info.st_size)
        guard size <= Self.maximumBytes else { throw Failure.tooLarge(size) }
        var buffer = ByteBufferAllocator().buffer(capacity: size)
        var remaining = size
        while remaining > 0 {
            var result = 0
            var readErrno: Int32 = 0
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: remaining) { pointer in
                result = Foundation.read(fd, pointer.baseAddress, min(pointer.count, remaining))
                readErrno = errno
                return max(result, 0)
            }
            if result < 0 && readErrno == EINTR { continue }
            guard result > 0 else { throw Failure.missing("image file: shorter than its size, or unreadable") }
            remaining -= result
        }
        return buffer
    }

    /// The root as the kernel sees it (links in the root's own path resolved); the root as given if it does not exist.
    func resolvedRoot() -> URL {
        guard let real = realpath(root.path, nil) else { return root }
        defer { free(real) }
        return URL(fileURLWithPath: String(cString: real), isDirectory: true)
    }
}
