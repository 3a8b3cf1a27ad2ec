import CZlib
import Foundation

/// Reads a gzip file whole (the open_clip vocabulary ships as `bpe_simple_vocab_16e6.txt.gz`).
enum TokenizerGzip {
    static func decompress(_ url: URL) throws -> Data {
        guard FileManager.default.fileExists(atPath: url.path) else { throw TokenizerError.missingFile(path: url.path) }
        let compressed: Data
        do { compressed = try Data(contentsOf: url) } catch {
            throw TokenizerError.unreadable(path: url.path, reason: "\(error)")
        }
        var stream = z_stream()
        guard inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw TokenizerError.unreadable(path: url.path, reason: "zlib could not start inflating")
        }
        defer { inflateEnd(&stream) }
        var output = Data()
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var status: Int32 = Z_OK
        try compressed.withUnsafeBytes { (input: UnsafeRawBufferPointer) in
            stream.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
            stream.avail_in = uInt(input.count)
            repeat {
                let produced: Int = chunk.withUnsafeMutableBufferPointer { buf in
                    stream.next_out = buf.baseAddress
                    stream.avail_out = uInt(buf.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    return buf.count - Int(stream.avail_out)
                }
                guard status == Z_OK || status == Z_STREAM_END else {
                    throw TokenizerError.unreadable(path: url.path, reason: "not a valid gzip stream (zlib status \(status))")
                }
                output.append(contentsOf: chunk[0..<produced])
                if status == Z_OK && produced == 0 && stream.avail_in == 0 {
                    throw TokenizerError.unreadable(path: url.path, reason: "gzip stream is truncated")
                }
            } while status != Z_STREAM_END
        }
        return output
    }
}

extension TokenizerGzip {
    /// Writes bytes as a gzip file (used by tests to build an open_clip-style vocabulary file).
    static func writeForTesting(_ bytes: [UInt8], to url: URL) throws {
        guard let file = gzopen(url.path, "wb") else {
            throw TokenizerError.unreadable(path: url.path, reason: "cannot open for gzip writing")
        }
        let written = bytes.withUnsafeBytes { gzwrite(file, $0.baseAddress, UInt32($0.count)) }
        gzclose(file)
        guard written == Int32(bytes.count) else {
            throw TokenizerError.unreadable(path: url.path, reason: "gzip write failed")
        }
    }
}
