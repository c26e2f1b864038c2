import ASTCore

/// A distilled set as a picture people can read: `imageGrid`'s cells upscaled by an integer
/// factor (nearest neighbour), each row headed by its class name and a legend row on top
/// ("CLASS" over the names, the image number over each column), drawn with a built-in 3x5
/// bitmap font (upper-case letters, digits, `-/.:?_` and space; other characters draw as `?`).
///
///     legend:   CLASS          1      2    ...
///     row c:    c NAME       [img]  [img]  ...
public func labelledImageGrid(
    images: [Float], count: Int, channels: Int, height: Int, width: Int,
    rows: Int, columns: Int, rowLabels: [String], scale: Int,
    normalization: ImageGridNormalization = .perImage
) throws(ASTError)
    -> (pixels: [UInt8], width: Int, height: Int)
{
    guard (1...32).contains(scale) else {
        throw ASTError.invalid("labelledImageGrid: scale \(scale) is outside 1...32")
    }
    guard rowLabels.count == rows else {
        throw ASTError.invalid("labelledImageGrid: \(rowLabels.count) row labels for \(rows) rows")
    }
    let grid = try imageGrid(
        images: images, count: count, channels: channels, height: height, width: width,
        rows: rows, columns: columns, padding: 1, normalization: normalization)
    // Text scale: a glyph is 3t x 5t pixels, about a fifth of a cell's height.
    let t = max(1, min(8, (height * scale) / 24))
    let advance = 4 * t, margin = 2 * t
    let labels = rowLabels.map { String($0.uppercased().prefix(24)) }
    let labelWidth = max(5, labels.map(\.count).max() ?? 0) * advance + 2 * margin
    let legendHeight = 5 * t + 2 * margin
    let (gridWidth, o1) = grid.width.multipliedReportingOverflow(by: scale)
    let (gridHeight, o2) = grid.height.multipliedReportingOverflow(by: scale)
    guard !o1, !o2 else { throw ASTError.invalid("labelledImageGrid: the picture is too large") }
    let totalWidth = labelWidth + gridWidth, totalHeight = legendHeight + gridHeight
    let bytes = try checkedProduct([totalWidth, totalHeight, channels], "labelledImageGrid: picture size")
    guard bytes <= 1 << 32, totalWidth <= Int(Int32.max), totalHeight <= Int(Int32.max) else {
        throw ASTError(.outOfMemory, "labelledImageGrid: a \(totalWidth)x\(totalHeight) picture is over 4 GiB")
    }
    var pixels = [UInt8](repeating: 0, count: bytes)
    // The grid, each pixel repeated scale x scale times.
    for y in 0..<gridHeight {
        let sourceRow = (y / scale) * grid.width
        let targetRow = ((legendHeight + y) * totalWidth + labelWidth) * channels
        for x in 0..<gridWidth {
            let s = (sourceRow + x / scale) * channels, d = targetRow + x * channels
            for c in 0..<channels { pixels[d + c] = grid.pixels[s + c] }
        }
    }
    func draw(_ text: String, x: Int, y: Int) {
        var left = x
        for character in text {
            let rowsBits = bitmapGlyph(character)
            for (r, bits) in rowsBits.enumerated() {
                for column in 0..<3 where bits & (4 >> column) != 0 {
                    for dy in 0..<t {
                        for dx in 0..<t {
                            let px = left + column * t + dx, py = y + r * t + dy
                            guard px < totalWidth, py < totalHeight else { continue }
                            for c in 0..<channels { pixels[(py * totalWidth + px) * channels + c] = 255 }
                        }
                    }
                }
            }
            left += advance
        }
    }
    draw("CLASS", x: margin, y: margin)
    let cellWidth = (width + 1) * scale, cellHeight = (height + 1) * scale
    for column in 0..<columns {
        let number = String(column + 1)
        let centre = labelWidth + scale + column * cellWidth + (width * scale) / 2
        draw(number, x: max(labelWidth, centre - (number.count * advance - t) / 2), y: margin)
    }
    for (row, label) in labels.enumerated() {
        let top = legendHeight + scale + row * cellHeight + (height * scale - 5 * t) / 2
        draw(label, x: margin, y: max(legendHeight, top))
    }
    return (pixels, totalWidth, totalHeight)
}

/// The 3x5 glyph of `c` as five rows of three bits (most significant = leftmost pixel).
func bitmapGlyph(_ c: Character) -> [UInt8] {
    let code = bitmapFont[c] ?? bitmapFont["?"]!
    return code.utf8.map { $0 - 48 }
}

/// Rows as octal digits: "25755" is 010 101 111 101 101, an A.
private let bitmapFont: [Character: String] = [
    "0": "75557", "1": "26227", "2": "71747", "3": "71717", "4": "55711", "5": "74717", "6": "74757",
    "7": "71111", "8": "75757", "9": "75717",
    "A": "25755", "B": "65656", "C": "34443", "D": "65556", "E": "74647", "F": "74644", "G": "34553",
    "H": "55755", "I": "72227", "J": "11152", "K": "55655", "L": "44447", "M": "57755", "N": "65555",
    "O": "25552", "P": "65644", "Q": "25563", "R": "65655", "S": "34216", "T": "72222", "U": "55557",
    "V": "55552", "W": "55775", "X": "55255", "Y": "55222", "Z": "71247",
    " ": "00000", "-": "00700", "/": "11244", ".": "00002", ":": "02020", "?": "71202", "_": "00007"
]

/// Class names of the built-in datasets (nil: label numbers only).
public func classNames(ofDataset name: String) -> [String]? {
    switch name {
    case "fashion-mnist":
        return [
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"
        ]
    case "cifar10":
        return ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    default:
        return nil
    }
}

/// "3 DRESS" for a named class, "3" otherwise.
public func classRowLabels(classes: Int, names: [String]?) -> [String] {
    (0..<classes).map { c in
        guard let names, c < names.count, !names[c].isEmpty, names[c] != String(c) else { return String(c) }
        return "\(c) \(names[c])"
    }
}
