// PNGTests: the encoder's output taken apart by hand (signature, chunk CRCs checked with zlib's
// crc32, IHDR fields, IDAT inflated and unfiltered back to the pixels), its argument checks, and
// the image grid renderer.

import ASTCore
@testable import ASTData
import CZlib
import Testing

/// One PNG chunk as read back from a file.
private struct Chunk {
    var type: String
    var data: [UInt8]
}

private func readBigEndian(_ b: [UInt8], _ at: Int) -> UInt32 {
    UInt32(b[at]) << 24 | UInt32(b[at + 1]) << 16 | UInt32(b[at + 2]) << 8 | UInt32(b[at + 3])
}

/// zlib's own crc32, called directly (not through ASTData).
private func zlibCRC(_ bytes: ArraySlice<UInt8>) -> UInt32 {
    let bytes = Array(bytes)
    return UInt32(
        truncatingIfNeeded: bytes.withUnsafeBufferPointer { crc32(crc32(0, nil, 0), $0.baseAddress, uInt($0.count)) })
}

/// Splits a PNG into chunks, checking the signature, each length and each CRC.
private func parseChunks(_ png: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) throws -> [Chunk] {
    try #require(
        png.count >= 8 && Array(png[0..<8]) == [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
        sourceLocation: sourceLocation)
    var chunks = [Chunk]()
    var at = 8
    while at < png.count {
        try #require(png.count - at >= 12, "truncated chunk at \(at)", sourceLocation: sourceLocation)
        let length = Int(readBigEndian(png, at))
        try #require(length < 1 << 31 && png.count - at - 12 >= length, sourceLocation: sourceLocation)
        let type = String(decoding: png[(at + 4)..<(at + 8)], as: UTF8.self)
        let data = Array(png[(at + 8)..<(at + 8 + length)])
        let stored = readBigEndian(png, at + 8 + length)
        #expect(
            stored == zlibCRC(png[(at + 4)..<(at + 8 + length)]), "CRC of \(type) chunk", sourceLocation: sourceLocation
        )
        chunks.append(Chunk(type: type, data: data))
        at += 12 + length
    }
    return chunks
}

/// Decodes an encoder-produced PNG (8-bit, filter 0 rows, no interlace): width, height, channels
/// and the pixels.
private func decode(
    _ png: [UInt8], sourceLocation: SourceLocation = #_sourceLocation
) throws
    -> (width: Int, height: Int, channels: Int, pixels: [UInt8])
{
    let chunks = try parseChunks(png, sourceLocation: sourceLocation)
    try #require(chunks.count >= 3, sourceLocation: sourceLocation)
    #expect(chunks.first?.type == "IHDR", sourceLocation: sourceLocation)
    #expect(chunks.last?.type == "IEND" && chunks.last?.data.isEmpty == true, sourceLocation: sourceLocation)
    #expect(chunks.dropFirst().dropLast().allSatisfy { $0.type == "IDAT" }, sourceLocation: sourceLocation)
    let ihdr = chunks[0].data
    try #require(ihdr.count == 13, sourceLocation: sourceLocation)
    let width = Int(readBigEndian(ihdr, 0)), height = Int(readBigEndian(ihdr, 4))
    #expect(ihdr[8] == 8, "bit depth", sourceLocation: sourceLocation)
    try #require(ihdr[9] == 0 || ihdr[9] == 2, "colour type", sourceLocation: sourceLocation)
    #expect(Array(ihdr[10..<13]) == [0, 0, 0], "compression, filter, interlace", sourceLocation: sourceLocation)
    let channels = ihdr[9] == 0 ? 1 : 3
    let compressed = chunks.filter { $0.type == "IDAT" }.flatMap(\.data)
    // A zlib stream: CM = 8 (deflate), header checksum valid.
    #expect(compressed[0] & 0x0f == 8, sourceLocation: sourceLocation)
    #expect((UInt16(compressed[0]) << 8 | UInt16(compressed[1])) % 31 == 0, sourceLocation: sourceLocation)
    let raw = try inflateGzip(compressed, source: "IDAT")
    let rowBytes = width * channels
    try #require(raw.count == height * (rowBytes + 1), sourceLocation: sourceLocation)
    var pixels = [UInt8]()
    for y in 0..<height {
        #expect(raw[y * (rowBytes + 1)] == 0, "filter type of row \(y)", sourceLocation: sourceLocation)
        pixels += raw[(y * (rowBytes + 1) + 1)..<((y + 1) * (rowBytes + 1))]
    }
    return (width, height, channels, pixels)
}

@Suite struct PNGEncoderTests {
    @Test func crcMatchesKnownValue() {
        // The IEND chunk's CRC is the same in every PNG file.
        #expect(zlibCRC(Array("IEND".utf8)[...]) == 0xae42_6082)
        #expect(crc32Checksum(Array("IEND".utf8)[...]) == 0xae42_6082)
    }

    @Test(arguments: [(1, 1, 1), (5, 3, 1), (4, 2, 3), (1, 7, 3), (33, 1, 1), (64, 48, 3)])
    func encodesAndDecodesBack(_ width: Int, _ height: Int, _ channels: Int) throws {
        let pixels = patternBytes(width * height * channels, seed: UInt64(width * 1000 + height * 10 + channels))
        let png = try PNGImage.encode(width: width, height: height, channels: channels, pixels: pixels)
        let decoded = try decode(png)
        #expect(decoded.width == width && decoded.height == height && decoded.channels == channels)
        #expect(decoded.pixels == pixels)
        // Deterministic output.
        #expect(try PNGImage.encode(width: width, height: height, channels: channels, pixels: pixels) == png)
    }

    @Test func everyCompressionLevel() throws {
        let pixels = (0..<(40 * 30)).map { UInt8(truncatingIfNeeded: $0 / 7) }
        var sizes = [Int]()
        for level in Int32(0)...9 {
            let png = try PNGImage.encode(width: 40, height: 30, channels: 1, pixels: pixels, level: level)
            #expect(try decode(png).pixels == pixels)
            sizes.append(png.count)
        }
        #expect(sizes[0] > sizes[9])  // level 0 stores, level 9 compresses
    }

    @Test func largeImageSplitsIDAT() throws {
        let (w, h) = (300, 200)
        let pixels = patternBytes(w * h * 3, seed: 99)  // incompressible: ~180 kB of IDAT data
        let png = try PNGImage.encode(
            width: w, height: h, channels: 3, pixels: pixels, level: 6, idatChunkBytes: 50_000)
        let chunks = try parseChunks(png)
        let idats = chunks.filter { $0.type == "IDAT" }
        #expect(idats.count >= 4)
        #expect(idats.dropLast().allSatisfy { $0.data.count == 50_000 })
        #expect(try decode(png).pixels == pixels)
        // The default chunk size keeps a small image in one IDAT.
        #expect(
            try parseChunks(PNGImage.encode(width: 8, height: 8, channels: 1, pixels: [UInt8](repeating: 9, count: 64)))
                .filter { $0.type == "IDAT" }.count == 1)
    }

    @Test func headerBytesAreExact() throws {
        let png = try PNGImage.encode(width: 2, height: 1, channels: 3, pixels: [255, 0, 0, 0, 0, 255])
        // Signature, IHDR length 13, "IHDR", width 2, height 1, depth 8, RGB, 0, 0, 0.
        #expect(
            Array(png[0..<29]) == [
                0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a,
                0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52,
                0, 0, 0, 2, 0, 0, 0, 1, 8, 2, 0, 0, 0
            ])
        #expect(Array(png.suffix(12)) == [0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82])
    }

    @Test func rejectsBadArguments() {
        expectASTError(.invalidArgument, "channels must be 1 (grayscale) or 3 (RGB), got 4") { () throws(ASTError) in
            _ = try PNGImage.encode(width: 1, height: 1, channels: 4, pixels: [0, 0, 0, 0])
        }
        expectASTError(.invalidArgument, "got 2") { () throws(ASTError) in
            _ = try PNGImage.encode(width: 1, height: 1, channels: 2, pixels: [0, 0])
        }
        expectASTError(.invalidArgument, "0x1") { () throws(ASTError) in
            _ = try PNGImage.encode(width: 0, height: 1, channels: 1, pixels: [])
        }
        expectASTError(.invalidArgument, "-3x2") { () throws(ASTError) in
            _ = try PNGImage.encode(width: -3, height: 2, channels: 1, pixels: [])
        }
        expectASTError(.invalidArgument, "needs 6 bytes, got 5") { () throws(ASTError) in
            _ = try PNGImage.encode(width: 3, height: 2, channels: 1, pixels: [1, 2, 3, 4, 5])
        }
        expectASTError(.invalidArgument, "width and height") { () throws(ASTError) in
            _ = try PNGImage.encode(width: 1 << 31, height: 1, channels: 1, pixels: [])
        }
        expectASTError(.invalidArgument, "overflows") { () throws(ASTError) in
            _ = try PNGImage.encode(width: Int(Int32.max), height: Int(Int32.max), channels: 3, pixels: [])
        }
        expectASTError(.invalidArgument, "level must be 0...9, got 10") { () throws(ASTError) in
            _ = try PNGImage.encode(width: 1, height: 1, channels: 1, pixels: [0], level: 10)
        }
    }

    @Test func writesFilesAtomically() throws {
        try withTempDirectory { dir in
            let pixels = patternBytes(6 * 4 * 3, seed: 5)
            let path = dir + "/img.png"
            try writePNG(path: path, width: 6, height: 4, channels: 3, pixels: pixels)
            let bytes = try BinaryFile.read(path)
            #expect(bytes == (try PNGImage.encode(width: 6, height: 4, channels: 3, pixels: pixels)))
            #expect(try decode(bytes).pixels == pixels)
            // Overwriting replaces; a bad write leaves the old file.
            try writePNG(path: path, width: 1, height: 1, channels: 1, pixels: [7])
            #expect(try decode(BinaryFile.read(path)).pixels == [7])
            expectASTError(.invalidArgument) { () throws(ASTError) in
                try writePNG(path: path, width: 2, height: 1, channels: 1, pixels: [7])
            }
            #expect(try decode(BinaryFile.read(path)).pixels == [7])
            expectASTError(.io, "no-such-dir") { () throws(ASTError) in
                try writePNG(path: dir + "/no-such-dir/x.png", width: 1, height: 1, channels: 1, pixels: [0])
            }
        }
    }
}

@Suite struct ImageGridTests {
    @Test func layoutPaddingAndEmptyCells() throws {
        // Three 1x2x2 images in a 2x2 grid with 1 pixel of padding; the fourth cell stays padValue.
        let images: [Float] = [0, 1, 1, 0, 0.5, 0.5, 0.5, 0.5, 1, 1, 0, 0]
        let grid = try imageGrid(
            images: images, count: 3, channels: 1, height: 2, width: 2, rows: 2, columns: 2,
            padding: 1, normalization: .range(lower: 0, upper: 1), padValue: 9)
        #expect(grid.width == 7 && grid.height == 7)
        let p: UInt8 = 9, h: UInt8 = 128
        #expect(
            grid.pixels == [
                p, p, p, p, p, p, p,
                p, 0, 255, p, h, h, p,
                p, 255, 0, p, h, h, p,
                p, p, p, p, p, p, p,
                p, 255, 255, p, p, p, p,
                p, 0, 0, p, p, p, p,
                p, p, p, p, p, p, p
            ])
    }

    @Test func noPaddingSingleCell() throws {
        let grid = try imageGrid(
            images: [0, 0.25, 0.75, 1], count: 1, channels: 1, height: 1, width: 4, rows: 1,
            columns: 1, padding: 0, normalization: .range(lower: 0, upper: 1))
        #expect(grid.width == 4 && grid.height == 1)
        // x * 255 + 0.5, truncated: 64.25 -> 64, 191.75 -> 191.
        #expect(grid.pixels == [0, 64, 191, 255])
    }

    @Test func rgbIsInterleavedFromNCHW() throws {
        // One 3x1x2 image: R = [0, 1], G = [1, 0], B = [0.5, 0.5].
        let grid = try imageGrid(
            images: [0, 1, 1, 0, 0.5, 0.5], count: 1, channels: 3, height: 1, width: 2, rows: 1,
            columns: 1, padding: 0, normalization: .range(lower: 0, upper: 1))
        #expect(grid.pixels == [0, 255, 128, 255, 0, 128])
        // Padding on all sides of an RGB grid.
        let padded = try imageGrid(
            images: [0, 1, 1, 0, 0.5, 0.5], count: 1, channels: 3, height: 1, width: 2, rows: 1,
            columns: 1, padding: 1, normalization: .range(lower: 0, upper: 1), padValue: 3)
        #expect(padded.width == 4 && padded.height == 3)
        #expect(
            padded.pixels == [UInt8](repeating: 3, count: 12) + [3, 3, 3, 0, 255, 128, 255, 0, 128, 3, 3, 3]
                + [UInt8](repeating: 3, count: 12))
    }

    @Test func normalizations() throws {
        // Per image: each stretched from its own min to max; a constant image becomes 0.
        let per = try imageGrid(
            images: [2, 4, 6, 8, -1, -1, -1, -1], count: 2, channels: 1, height: 1, width: 4,
            rows: 2, columns: 1, padding: 0)
        #expect(per.pixels == [0, 85, 170, 255, 0, 0, 0, 0])
        // A fixed range clamps; NaN becomes 0 and infinities clamp.
        let ranged = try imageGrid(
            images: [-2, -1, 0, 1, 2, .nan, .infinity, -.infinity], count: 1, channels: 1,
            height: 1, width: 8, rows: 1, columns: 1, padding: 0,
            normalization: .range(lower: -1, upper: 1))
        #expect(ranged.pixels == [0, 0, 128, 255, 255, 0, 255, 0])
        // Per-image statistics skip non-finite values.
        let mixed = try imageGrid(
            images: [.nan, 1, 3, .infinity], count: 1, channels: 1, height: 1, width: 4, rows: 1,
            columns: 1, padding: 0)
        #expect(mixed.pixels == [0, 0, 255, 255])
        // One range over all images.
        let all = try imageGrid(
            images: [2, 4, 6, 8, -1, -1, -1, -1], count: 2, channels: 1, height: 1, width: 4,
            rows: 1, columns: 2, padding: 0, normalization: .allImages)
        #expect(all.pixels == [85, 142, 198, 255, 0, 0, 0, 0])  // (x + 1) / 9 * 255
        let allNaN = try imageGrid(
            images: [.nan, .nan], count: 1, channels: 1, height: 1, width: 2, rows: 1, columns: 1,
            padding: 0)
        #expect(allNaN.pixels == [0, 0])
    }

    @Test func rejectsBadArguments() {
        let one = [Float](repeating: 0, count: 4)
        expectASTError(.invalidArgument, "3 images do not fit a 1x2 grid") { () throws(ASTError) in
            _ = try imageGrid(images: one + one + one, count: 3, channels: 1, height: 2, width: 2, rows: 1, columns: 2)
        }
        expectASTError(.invalidArgument, "need 8 floats, got 4") { () throws(ASTError) in
            _ = try imageGrid(images: one, count: 2, channels: 1, height: 2, width: 2, rows: 1, columns: 2)
        }
        expectASTError(.invalidArgument, "channels must be 1 or 3, got 2") { () throws(ASTError) in
            _ = try imageGrid(images: one, count: 1, channels: 2, height: 1, width: 2, rows: 1, columns: 1)
        }
        expectASTError(.invalidArgument, "must be positive") { () throws(ASTError) in
            _ = try imageGrid(images: one, count: 1, channels: 1, height: 2, width: 2, rows: 0, columns: 1)
        }
        expectASTError(.invalidArgument, "must be positive") { () throws(ASTError) in
            _ = try imageGrid(images: one, count: 1, channels: 1, height: 2, width: 2, rows: 1, columns: 1, padding: -1)
        }
        for (lower, upper) in [(Float(1), Float(1)), (2, 1), (.nan, 1), (0, .infinity)] {
            expectASTError(.invalidArgument, "value range") { () throws(ASTError) in
                _ = try imageGrid(
                    images: one, count: 1, channels: 1, height: 2, width: 2, rows: 1, columns: 1,
                    normalization: .range(lower: lower, upper: upper))
            }
        }
        expectASTError(.invalidArgument, "PNG limit") { () throws(ASTError) in
            _ = try imageGrid(images: [], count: 0, channels: 1, height: 1, width: 1 << 20, rows: 1, columns: 1 << 12)
        }
        expectASTError(.outOfMemory, "over 4 GiB") { () throws(ASTError) in
            _ = try imageGrid(images: [], count: 0, channels: 3, height: 1 << 15, width: 1 << 15, rows: 2, columns: 2)
        }
    }

    @Test func gridEncodesToPNG() throws {
        // Ten 3x8x8 images (one per "class") in a 2x5 grid, through the encoder and back.
        var rng = SeededGenerator(seed: 11)
        let images = (0..<(10 * 3 * 8 * 8)).map { _ in Float(rng.next() % 1000) / 500 - 1 }
        let grid = try imageGrid(images: images, count: 10, channels: 3, height: 8, width: 8, rows: 2, columns: 5)
        #expect(grid.width == 5 * 10 + 2 && grid.height == 2 * 10 + 2)
        let png = try PNGImage.encode(width: grid.width, height: grid.height, channels: 3, pixels: grid.pixels)
        let decoded = try decode(png)
        #expect(decoded.width == grid.width && decoded.height == grid.height && decoded.channels == 3)
        #expect(decoded.pixels == grid.pixels)
        // Image 7 (row 1, column 2) channel 1 pixel (y 3, x 5), per-image normalised.
        let image = Array(images[(7 * 192)..<(8 * 192)])
        let low = image.min() ?? 0, high = image.max() ?? 1
        let v = image[64 + 3 * 8 + 5]
        let expected = UInt8(min(255, max(0, (v - low) * (255 / (high - low)) + 0.5)))
        let gx = 2 * 10 + 2 + 5, gy = 1 * 10 + 2 + 3
        #expect(grid.pixels[(gy * grid.width + gx) * 3 + 1] == expected)
    }
}
