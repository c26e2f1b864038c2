import ASTCore
import ASTData

/// distilled.png: the distilled set in pixel space, one row per class headed by its name, a legend
/// row on top, every image pixel drawn as scale x scale pixels (`labelledImageGrid`).

/// Scale that makes an image about 100 pixels wide (28 -> 4, 32 -> 3), at least 1.
public func defaultRenderScale(imageSize: Int) -> Int { max(1, min(8, 112 / max(1, imageSize))) }

/// Writes the PNG of `count` class-major images (NCHW, pixel space) with labels 0..<classes.
public func writeDistilledPNG(
    path: String, images: [Float], labels: [Int32], channels: Int, imageSize: Int,
    classes: Int, classNames: [String]?, scale: Int
) throws(ASTError) -> (width: Int, height: Int) {
    guard channels == 1 || channels == 3 else {
        throw .invalid("a PNG needs 1 or 3 channels, the images have \(channels)")
    }
    guard classes >= 1 else { throw .invalid("no classes to render") }
    var perClass = [Int](repeating: 0, count: classes)
    for y in labels {
        guard (0..<Int32(classes)).contains(y) else { throw .invalid("label \(y) is outside 0..<\(classes)") }
        perClass[Int(y)] += 1
    }
    let grid = try labelledImageGrid(
        images: images, count: labels.count, channels: channels, height: imageSize, width: imageSize,
        rows: classes, columns: max(1, perClass.max() ?? 1),
        rowLabels: classRowLabels(classes: classes, names: classNames), scale: scale)
    try writePNG(path: path, width: grid.width, height: grid.height, channels: channels, pixels: grid.pixels)
    return (grid.width, grid.height)
}

/// `ast-distill render`: a distilled.safetensors (its pixel-space images when present, its
/// class names from the metadata) to a PNG.
public func renderDistilled(input: String, output: String, scale: Int) throws(ASTError) -> (width: Int, height: Int) {
    let st = try SafeTensorsFile(path: input)
    let name = st.contains("images_pixel_space") ? "images_pixel_space" : "images"
    guard let info = st.info(name), info.shape.count == 4, info.shape[2] == info.shape[3] else {
        throw ASTError(.format, "\(input): no [N, C, H, H] 'images' tensor (is it a distilled.safetensors?)")
    }
    guard st.contains("labels") else {
        throw ASTError(.format, "\(input): no 'labels' tensor (is it a distilled.safetensors?)")
    }
    let labels = try st.tensor("labels").int64s()
    guard labels.count == info.shape[0], let top = labels.max(), labels.allSatisfy({ (0...100_000).contains($0) })
    else {
        throw ASTError(.format, "\(input): 'labels' must hold one class 0...100000 per image (\(info.shape[0]) images)")
    }
    var names: [String]? = nil
    if let text = st.metadata["class_names"], let list = (try? JSONValue.parse(text, source: input))?.array {
        names = list.map { $0.string ?? "" }
    }
    return try writeDistilledPNG(
        path: output, images: try st.floats(name), labels: labels.map { Int32($0) },
        channels: info.shape[1], imageSize: info.shape[2], classes: Int(top) + 1,
        classNames: names, scale: scale)
}
