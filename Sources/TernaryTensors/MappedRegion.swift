#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Read-only bytes that stay valid while this object lives: a private read-only memory map of a file
/// (pages shared with every other process mapping the same file), or an owned heap copy.
public final class MappedRegion: @unchecked Sendable {
    public let base: UnsafeRawPointer?
    public let count: Int
    private let mapped: Bool

    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// Maps the whole file at `path` read-only.
    public init(mapping path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw SafeTensorsError.cannotOpen(file: path, reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw SafeTensorsError.cannotOpen(file: path, reason: String(cString: strerror(errno)))
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw SafeTensorsError.cannotOpen(file: path, reason: "not a regular file")
        }
        let size = Int(st.st_size)
        count = size
        mapped = size > 0
        if size == 0 {
            base = nil
            return
        }
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else {
            throw SafeTensorsError.cannotOpen(file: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(p)
    }

    /// Copies `data` into an owned buffer (for parsing bytes that are not in a file, e.g. fuzzing).
    public init(copying data: UnsafeRawBufferPointer) {
        count = data.count
        mapped = false
        if data.count == 0 {
            base = nil
        } else {
            let p = UnsafeMutableRawPointer.allocate(byteCount: data.count, alignment: 64)
            p.copyMemory(from: data.baseAddress!, byteCount: data.count)
            base = UnsafeRawPointer(p)
        }
    }

    /// Tells the kernel the mapped pages inside `range` are not needed any more (they are re-read from the file
    /// if touched again). Streaming tools call this after each tensor so resident memory stays one tensor deep.
    public func dropPages(_ range: Range<Int>) {
        guard mapped, let base, range.lowerBound >= 0, range.upperBound <= count else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (range.lowerBound + page - 1) / page * page
        let end = range.upperBound == count ? count : range.upperBound / page * page
        guard end > start else { return }
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, MADV_DONTNEED)
    }

    deinit {
        guard let base else { return }
        if mapped {
            munmap(UnsafeMutableRawPointer(mutating: base), count)
        } else {
            UnsafeMutableRawPointer(mutating: base).deallocate()
        }
    }
}
