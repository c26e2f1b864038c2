// PNG: an 8-bit grayscale/RGB PNG encoder (zlib via CZlib) and a renderer of NCHW float images
// into one grid picture, for looking at distilled sets.

import ASTCore
import CZlib

/// Encoding of 8-bit PNG images.
public enum PNGImage {
    /// The 8 bytes every PNG file starts with.
    public static let signature: [UInt8] = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]

    /// IDAT chunks are cut at this many bytes.
    static let idatChunkBytes = 1 << 20

    /// A PNG file of `pixels`: `height` rows of `width` pixels of `channels` bytes (1 = grayscale,
    /// 3 = RGB, interleaved), top row first. Rows use filter type 0 and are zlib-compressed at
    /// `level` (0-9). Throws `.invalidArgument` for bad sizes or a pixel count that does not match.
    public static func encode(
        width: Int, height: Int, channels: Int, pixels: [UInt8],
        level: Int32 = 6
    ) throws(ASTError) -> [UInt8] {
        try encode(
            width: width, height: height, channels: channels, pixels: pixels, level: level,
            idatChunkBytes: idatChunkBytes)
    }

    static func encode(
        width: Int, height: Int, channels: Int, pixels: [UInt8], level: Int32,
        idatChunkBytes: Int
    ) throws(ASTError) -> [UInt8] {
        guard channels == 1 || channels == 3 else {
            throw ASTError.invalid("PNG: channels must be 1 (grayscale) or 3 (RGB), got \(channels)")
        }
        let maxSide = Int(Int32.max)
        guard width >= 1, width <= maxSide, height >= 1, height <= maxSide else {
            throw ASTError.invalid("PNG: width and height must be in 1...\(maxSide), got \(width)x\(height)")
        }
        guard (0...9).contains(level) else {
            throw ASTError.invalid("PNG: compression level must be 0...9, got \(level)")
        }
        let expected = try checkedProduct([width, height, channels], "PNG: \(width)x\(height)x\(channels) image")
        guard pixels.count == expected else {
            throw ASTError.invalid(
                "PNG: a \(width)x\(height) image with \(channels) channel(s) needs \(expected) "
                    + "bytes, got \(pixels.count)")
        }
        let rowBytes = width * channels
        let rawCount = try checkedProduct([height, rowBytes + 1], "PNG: filtered image size")

        // Each row is a filter-type byte (0 = none) followed by the row's bytes.
        var raw = [UInt8]()
        raw.reserveCapacity(rawCount)
        for y in 0..<height {
            raw.append(0)
            raw.append(contentsOf: pixels[(y * rowBytes)..<((y + 1) * rowBytes)])
        }
        let compressed = try zlibCompress(raw, level: level)

        var out = signature
        var ihdr = [UInt8]()
        appendBigEndian(&ihdr, UInt32(width))
        appendBigEndian(&ihdr, UInt32(height))
        ihdr += [8, channels == 1 ? 0 : 2, 0, 0, 0]  // bit depth, colour type, compression, filter, interlace
        appendChunk(&out, "IHDR", ihdr[...])
        var start = 0
        repeat {
            let end = min(start + max(idatChunkBytes, 1), compressed.count)
            appendChunk(&out, "IDAT", compressed[start..<end])
            start = end
        } while start < compressed.count
        appendChunk(&out, "IEND", [][...])
        return out
    }

    /// One zlib stream (RFC 1950) of `bytes`.
    static func zlibCompress(_ bytes: [UInt8], level: Int32) throws(ASTError) -> [UInt8] {
        let bound = Int(compressBound(uLong(bytes.count)))
        var output = [UInt8](repeating: 0, count: bound)
        var length = uLongf(bound)
        let status = bytes.withUnsafeBufferPointer { src in
            output.withUnsafeMutableBufferPointer { dst in
                compress2(dst.baseAddress, &length, src.baseAddress, uLong(src.count), level)
            }
        }
        guard status == Z_OK else {
            throw ASTError(status == Z_MEM_ERROR ? .outOfMemory : .internal, "PNG: zlib compress2 returned \(status)")
        }
        output.removeLast(bound - Int(length))
        return output
    }

    private static func appendChunk(_ out: inout [UInt8], _ type: StaticString, _ data: ArraySlice<UInt8>) {
        appendBigEndian(&out, UInt32(data.count))
        let typeBytes = Array(UnsafeBufferPointer(start: type.utf8Start, count: type.utf8CodeUnitCount))
        let crcStart = out.count
        out.append(contentsOf: typeBytes)
        out.append(contentsOf: data)
        // The CRC covers the chunk type and data, not the length.
        appendBigEndian(&out, crc32Checksum(out[crcStart...]))
    }

    private static func appendBigEndian(_ out: inout [UInt8], _ v: UInt32) {
        out.append(UInt8(v >> 24)); out.append(UInt8(truncatingIfNeeded: v >> 16))
        out.append(UInt8(truncatingIfNeeded: v >> 8)); out.append(UInt8(truncatingIfNeeded: v))
    }
}

/// Encodes `pixels` as a PNG (see `PNGImage.encode`) and writes it atomically to `path`.
public func writePNG(path: String, width: Int, height: Int, channels: Int, pixels: [UInt8]) throws(ASTError) {
    try writeFileAtomically(
        path: path,
        bytes: PNGImage.encode(
            width: width, height: height, channels: channels,
            pixels: pixels))
}

/// How `imageGrid` maps float pixel values to 0...255.
public enum ImageGridNormalization: Sendable, Equatable {
    /// `lower` maps to 0 and `upper` to 255 for every image; values outside are clamped.
    case range(lower: Float, upper: Float)
    /// Each image is stretched from its own minimum (0) to its maximum (255); a constant image
    /// becomes 0 (torchvision's `make_grid(normalize=True, scale_each=True)`).
    case perImage
    /// One minimum and maximum over all images (`make_grid(normalize=True)`).
    case allImages
}

/// Renders `count` images (NCHW floats, `channels` 1 or 3) into one interleaved 8-bit picture of
/// `rows` x `columns` cells, in row-major order (image `i` goes to row `i / columns`, column
/// `i % columns`). Cells are separated and surrounded by `padding` pixels of `padValue`; cells
/// beyond `count` stay `padValue`. NaN becomes 0 and infinities clamp. Values are rounded as
/// torchvision's `save_image` does (`x * 255 + 0.5`, clamped, truncated). The result feeds
/// `PNGImage.encode(width:height:channels:pixels:)` with the same `channels`.
public func imageGrid(
    images: [Float], count: Int, channels: Int, height: Int, width: Int, rows: Int, columns: Int,
    padding: Int = 2, normalization: ImageGridNormalization = .perImage,
    padValue: UInt8 = 0
) throws(ASTError) -> (pixels: [UInt8], width: Int, height: Int) {
    guard channels == 1 || channels == 3 else {
        throw ASTError.invalid("imageGrid: channels must be 1 or 3, got \(channels)")
    }
    guard count >= 0, height >= 1, width >= 1, rows >= 1, columns >= 1, padding >= 0 else {
        throw ASTError.invalid(
            "imageGrid: count \(count), height \(height), width \(width), rows \(rows), "
                + "columns \(columns), padding \(padding): sizes must be positive (count and padding may be 0)")
    }
    let cells = try checkedProduct([rows, columns], "imageGrid: grid \(rows)x\(columns)")
    guard count <= cells else {
        throw ASTError.invalid("imageGrid: \(count) images do not fit a \(rows)x\(columns) grid")
    }
    let imageSize = try checkedProduct([channels, height, width], "imageGrid: image \(channels)x\(height)x\(width)")
    let expected = try checkedProduct([count, imageSize], "imageGrid: \(count) images")
    guard images.count == expected else {
        throw ASTError.invalid(
            "imageGrid: \(count) images of \(channels)x\(height)x\(width) need \(expected) floats, "
                + "got \(images.count)")
    }
    if case .range(let lower, let upper) = normalization {
        guard lower.isFinite, upper.isFinite, upper > lower else {
            throw ASTError.invalid("imageGrid: value range [\(lower), \(upper)] must be finite with upper > lower")
        }
    }
    // grid = columns * (width + padding) + padding, likewise for rows, all checked.
    func side(_ n: Int, _ cell: Int, _ what: String) throws(ASTError) -> Int {
        let (step, o1) = cell.addingReportingOverflow(padding)
        let (span, o2) = step.multipliedReportingOverflow(by: n)
        let (total, o3) = span.addingReportingOverflow(padding)
        guard !o1, !o2, !o3, total <= Int(Int32.max) else {
            throw ASTError.invalid("imageGrid: grid \(what) exceeds the PNG limit of \(Int32.max) pixels")
        }
        return total
    }
    let gridWidth = try side(columns, width, "width")
    let gridHeight = try side(rows, height, "height")
    let total = try checkedProduct([gridWidth, gridHeight, channels], "imageGrid: grid size")
    guard total <= 1 << 32 else {
        throw ASTError(.outOfMemory, "imageGrid: a \(gridWidth)x\(gridHeight) grid needs \(total) bytes, over 4 GiB")
    }

    var pixels = [UInt8](repeating: padValue, count: total)
    let plane = height * width
    let overall = normalization == .allImages ? finiteRange(images[...]) : (0, 0)
    images.withUnsafeBufferPointer { src in
        pixels.withUnsafeMutableBufferPointer { dst in
            for i in 0..<count {
                let image = UnsafeBufferPointer(rebasing: src[(i * imageSize)..<((i + 1) * imageSize)])
                let low: Float, high: Float
                switch normalization {
                case .range(let lower, let upper):
                    low = lower; high = upper
                case .perImage:
                    (low, high) = finiteRange(image)
                case .allImages:
                    (low, high) = overall
                }
                // torchvision: (x - low) / max(high - low, 1e-5)
                let scale = 255 / max(high - low, 1e-5)
                let top = (i / columns) * (height + padding) + padding
                let left = (i % columns) * (width + padding) + padding
                for c in 0..<channels {
                    for y in 0..<height {
                        let rowStart = ((top + y) * gridWidth + left) * channels + c
                        let srcRow = c * plane + y * width
                        for x in 0..<width {
                            dst[rowStart + x * channels] = quantize(image[srcRow + x], low: low, scale: scale)
                        }
                    }
                }
            }
        }
    }
    return (pixels, gridWidth, gridHeight)
}

/// Minimum and maximum of the finite values, (0, 0) when there are none.
private func finiteRange<C: Collection>(_ values: C) -> (Float, Float) where C.Element == Float {
    var low = Float.infinity, high = -Float.infinity
    for v in values where v.isFinite {
        low = min(low, v); high = max(high, v)
    }
    return low > high ? (0, 0) : (low, high)
}

@inline(__always)
private func quantize(_ v: Float, low: Float, scale: Float) -> UInt8 {
    let scaled = (v - low) * scale + 0.5
    // NaN fails both comparisons and falls through to 0.
    if scaled >= 255 { return 255 }
    if scaled >= 0 { return UInt8(scaled) }
    return 0
}
