import CZlib
import Foundation

/// A PNG text chunk: a keyword and its text. Written as `tEXt` when the text is Latin-1 (what the PNG
/// specification allows there), else as an uncompressed `iTXt` holding UTF-8 — the rule Pillow's `PngInfo`
/// follows, so A1111-style readers find a Unicode prompt too. Read back from `tEXt`, `zTXt` and `iTXt`
/// (compressed or not).
public struct PNGTextChunk: Sendable, Equatable {
    public var keyword: String
    public var text: String

    public init(keyword: String, text: String) {
        self.keyword = keyword
        self.text = text
    }

    /// The largest text a compressed chunk may inflate to when read (a guard against decompression bombs).
    public static let maxInflatedBytes = 8 << 20

    /// `nil` when `keyword` is a valid PNG keyword (1–79 printable Latin-1 characters, no leading, trailing or
    /// double spaces), else why not.
    public static func keywordProblem(_ keyword: String) -> String? {
        let scalars = Array(keyword.unicodeScalars)
        if scalars.isEmpty || scalars.count > 79 { return "a PNG keyword has 1 to 79 characters" }
        if !scalars.allSatisfy({ (32...126).contains($0.value) || (161...255).contains($0.value) }) {
            return "a PNG keyword holds printable Latin-1 characters only"
        }
        if scalars.first == " " || scalars.last == " " || keyword.contains("  ") {
            return "a PNG keyword has no leading, trailing or double spaces"
        }
        return nil
    }

    /// The chunk's type and body.
    func encoded() throws -> (type: String, body: [UInt8]) {
        if let problem = Self.keywordProblem(keyword) { throw PNGWriter.Error(description: "text chunk '\(keyword)': \(problem)") }
        let key = keyword.unicodeScalars.map { UInt8($0.value) }
        if text.unicodeScalars.allSatisfy({ $0.value <= 0xFF && $0.value != 0 }) {
            return ("tEXt", key + [0] + text.unicodeScalars.map { UInt8($0.value) })
        }
        // keyword, NUL, compression flag 0, method 0, empty language tag + NUL, empty translated keyword + NUL.
        return ("iTXt", key + [0, 0, 0, 0, 0] + Array(text.utf8))
    }

    /// The text chunks of a PNG file, in file order (the file is checked as `PNGChunks.read` checks it).
    public static func read(fromPNG png: [UInt8]) throws -> [PNGTextChunk] {
        var found: [PNGTextChunk] = []
        for chunk in try PNGChunks.read(png) where ["tEXt", "zTXt", "iTXt"].contains(chunk.type) {
            found.append(try decode(chunk))
        }
        return found
    }

    static func decode(_ chunk: PNGChunk) throws -> PNGTextChunk {
        let body = Array(chunk.body)
        func bad(_ why: String) -> PNGChunks.Error { PNGChunks.Error(description: "\(chunk.type) chunk at byte \(chunk.offset): \(why)") }
        guard let nul = body.firstIndex(of: 0), nul > 0 else { throw bad("no keyword") }
        let keyword = String(String.UnicodeScalarView(body[..<nul].map { Unicode.Scalar($0) }))
        var rest = body[(nul + 1)...]
        switch chunk.type {
        case "tEXt":
            return PNGTextChunk(keyword: keyword, text: latin1(rest))
        case "zTXt":
            guard rest.first == 0 else { throw bad("unknown compression method") }
            return PNGTextChunk(keyword: keyword, text: latin1(try inflate(Array(rest.dropFirst()), bad)))
        default: // iTXt
            guard rest.count >= 2 else { throw bad("truncated header") }
            let (flag, method) = (rest[rest.startIndex], rest[rest.startIndex + 1])
            rest = rest.dropFirst(2)
            guard let languageEnd = rest.firstIndex(of: 0) else { throw bad("no language tag") }
            rest = rest[(languageEnd + 1)...]
            guard let translatedEnd = rest.firstIndex(of: 0) else { throw bad("no translated keyword") }
            rest = rest[(translatedEnd + 1)...]
            var bytes = Array(rest)
            if flag == 1 {
                guard method == 0 else { throw bad("unknown compression method") }
                bytes = try inflate(bytes, bad)
            } else if flag != 0 {
                throw bad("compression flag \(flag) is neither 0 nor 1")
            }
            guard let text = String(validating: bytes, as: UTF8.self) else { throw bad("text is not UTF-8") }
            return PNGTextChunk(keyword: keyword, text: text)
        }
    }

    static func latin1<C: Collection<UInt8>>(_ bytes: C) -> String {
        String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
    }

    /// zlib-inflates `data`, refusing more than `maxInflatedBytes`.
    static func inflate(_ data: [UInt8], _ bad: (String) -> PNGChunks.Error) throws -> [UInt8] {
        var stream = z_stream()
        guard inflateInit_(&stream, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { throw bad("zlib failed to start") }
        defer { inflateEnd(&stream) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        var input = data
        let status: Int32 = input.withUnsafeMutableBufferPointer { src in
            stream.next_in = src.baseAddress
            stream.avail_in = uInt(src.count)
            while true {
                let (code, produced): (Int32, Int) = buffer.withUnsafeMutableBufferPointer { dst in
                    stream.next_out = dst.baseAddress
                    stream.avail_out = uInt(dst.count)
                    let code = CZlib.inflate(&stream, Z_NO_FLUSH)
                    return (code, dst.count - Int(stream.avail_out))
                }
                out += buffer[0..<produced]
                if out.count > maxInflatedBytes { return Z_MEM_ERROR }
                if code == Z_STREAM_END { return Z_OK }
                if code != Z_OK || (produced == 0 && stream.avail_in == 0) { return code == Z_OK ? Z_DATA_ERROR : code }
            }
        }
        if status == Z_MEM_ERROR { throw bad("text inflates to more than \(maxInflatedBytes) bytes") }
        guard status == Z_OK else { throw bad("text does not inflate (zlib status \(status))") }
        return out
    }
}
