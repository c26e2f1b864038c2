// IDX: the MNIST / Fashion-MNIST file format (plain or gzipped) and the loaders that turn the
// standard four files into a train/test DatasetPair.

import ASTCore

/// Reading IDX files: big-endian header `00 00 <type> <ndims>`, `ndims` big-endian UInt32
/// dimensions, then the payload. Only unsigned-byte data (type 0x08) is read, which is what
/// every MNIST-family file holds.
public enum IDX {
    /// Reads the IDX file at `path` (gzipped when it starts with 1f 8b; decompressed size capped at
    /// `maxBytes`) as a `u1` NDArray whose shape is the file's dimensions. The payload must be
    /// exactly the size the dimensions claim.
    public static func read(path: String, maxBytes: Int = defaultMaxDecompressedBytes) throws(ASTError) -> NDArray {
        var bytes = try BinaryFile.read(path)
        if isGzip(bytes) { bytes = try inflateGzip(bytes, maxOutput: maxBytes, source: path) }
        return try decode(bytes, source: path)
    }

    /// Decodes uncompressed IDX bytes; `source` names them in error messages.
    public static func decode(_ bytes: [UInt8], source: String = "IDX data") throws(ASTError) -> NDArray {
        guard bytes.count >= 4 else {
            throw ASTError(.format, "\(source): \(bytes.count) bytes is too short for an IDX file")
        }
        guard bytes[0] == 0, bytes[1] == 0 else {
            throw ASTError(.format, "\(source): not an IDX file (magic starts \(bytes[0]) \(bytes[1]), expected 0 0)")
        }
        let type = bytes[2], rank = Int(bytes[3])
        guard type == 0x08 else {
            let known: [UInt8: String] = [0x09: "int8", 0x0B: "int16", 0x0C: "int32", 0x0D: "float32", 0x0E: "float64"]
            if let name = known[type] {
                throw ASTError(
                    .unsupported, "\(source): IDX element type \(name) is not supported (only unsigned bytes)")
            }
            throw ASTError(.format, "\(source): not an IDX file (unknown element type 0x\(String(type, radix: 16)))")
        }
        guard rank >= 1 else { throw ASTError(.format, "\(source): IDX file with 0 dimensions") }
        let headerSize = 4 + 4 * rank
        guard bytes.count >= headerSize else {
            throw ASTError(
                .format,
                "\(source): truncated IDX header (\(rank) dimensions need \(headerSize) bytes, file has \(bytes.count))"
            )
        }
        var shape = [Int]()
        for d in 0..<rank {
            let at = 4 + 4 * d
            shape.append(Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3]))
        }
        // Dimensions are < 2^32 each, so compare in a way that cannot overflow before allocating.
        let payload = bytes.count - headerSize
        var expected = 1
        for d in shape {
            let (p, overflow) = expected.multipliedReportingOverflow(by: d)
            guard !overflow, p <= payload || d == 0 else {
                throw ASTError(
                    .format, "\(source): header claims dimensions \(shape) but only \(payload) bytes of data follow")
            }
            expected = p
        }
        guard expected == payload else {
            throw ASTError(
                .format,
                "\(source): header claims dimensions \(shape) = \(expected) bytes of data "
                    + "but the file has \(payload)")
        }
        return try NDArray(shape: shape, dtype: .u1, bytes: Array(bytes[headerSize...]))
    }
}

/// Loads an image IDX file of shape (N, H, W) and a label IDX file of shape (N) as one
/// single-channel dataset with pixels scaled to [0, 1] (byte / 255). Labels must lie in
/// `0..<classes`.
public func loadIDXDataset(imagesPath: String, labelsPath: String, classes: Int = 10) throws(ASTError) -> ImageDataset {
    guard classes > 0 else { throw ASTError.invalid("loadIDXDataset: classes must be positive, got \(classes)") }
    let images = try IDX.read(path: imagesPath)
    guard images.shape.count == 3 else {
        throw ASTError(.format, "\(imagesPath): expected images of shape (N, H, W), found dimensions \(images.shape)")
    }
    let labels = try IDX.read(path: labelsPath)
    guard labels.shape.count == 1 else {
        throw ASTError(.format, "\(labelsPath): expected labels of shape (N), found dimensions \(labels.shape)")
    }
    let (n, h, w) = (images.shape[0], images.shape[1], images.shape[2])
    guard labels.shape[0] == n else {
        throw ASTError.shape("\(labelsPath) has \(labels.shape[0]) labels but \(imagesPath) has \(n) images")
    }
    guard n > 0, h > 0, w > 0 else {
        throw ASTError(.format, "\(imagesPath): empty image set (dimensions \(images.shape))")
    }
    let classLabels = try byteLabels(labels.bytes, classes: classes, source: labelsPath)
    return try ImageDataset(
        images: unitFloats(images.bytes), labels: classLabels, count: n, channels: 1,
        height: h, width: w, classes: classes)
}

/// Fashion-MNIST (60000 train / 10000 test, 28x28, 10 classes) from the four standard IDX files
/// in `directory`, gzipped or not. The default is where `apt-get install dataset-fashion-mnist`
/// puts them.
public func loadFashionMNIST(directory: String = "/usr/share/datasets/fashion-mnist") throws(ASTError) -> DatasetPair {
    try loadIDXPair(
        directory: directory, dataset: "Fashion-MNIST",
        hint:
            "install it with `apt-get install -y dataset-fashion-mnist` or point to a directory with the four IDX files"
    )
}

/// MNIST (60000 train / 10000 test, 28x28, 10 classes) from the four standard IDX files in
/// `directory`, gzipped or not.
public func loadMNIST(directory: String) throws(ASTError) -> DatasetPair {
    try loadIDXPair(
        directory: directory, dataset: "MNIST",
        hint: "point to a directory with the four standard MNIST IDX files")
}

/// The standard MNIST-family file stems, in the order train images, train labels, test images,
/// test labels.
let idxStems = [
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"
]

private func loadIDXPair(directory: String, dataset: String, hint: String) throws(ASTError) -> DatasetPair {
    guard BinaryFile.isDirectory(directory) else {
        throw ASTError(.io, "\(dataset): directory \(directory) does not exist; \(hint)")
    }
    var paths = [String]()
    for stem in idxStems {
        // Also accept the `train-images.idx3-ubyte` spelling some mirrors use.
        let dotted = stem.replacing("-idx", with: ".idx")
        let candidates = [stem + ".gz", stem, dotted + ".gz", dotted].map { joinPath(directory, $0) }
        guard let found = candidates.first(where: BinaryFile.exists) else {
            throw ASTError(
                .io,
                "\(dataset): \(stem)(.gz) not found in \(directory); \(hint) "
                    + "(\(idxStems.joined(separator: ", ")), optionally gzipped)")
        }
        paths.append(found)
    }
    let train = try loadIDXDataset(imagesPath: paths[0], labelsPath: paths[1], classes: 10)
    let test = try loadIDXDataset(imagesPath: paths[2], labelsPath: paths[3], classes: 10)
    return try DatasetPair(train: train, test: test)
}

/// Bytes 0...255 scaled to [0, 1].
func unitFloats(_ bytes: [UInt8]) -> [Float] {
    // Not for 0 bytes: see readExactly in SafeTensors.swift.
    guard !bytes.isEmpty else { return [] }
    return [Float](unsafeUninitializedCapacity: bytes.count) { out, initialized in
        bytes.withUnsafeBufferPointer { src in
            for i in src.indices { out[i] = Float(src[i]) / 255 }
        }
        initialized = bytes.count
    }
}

/// Label bytes checked against `classes`, with the file and index of the first bad one.
func byteLabels(_ bytes: [UInt8], classes: Int, source: String) throws(ASTError) -> [Int32] {
    if let bad = bytes.firstIndex(where: { Int($0) >= classes }) {
        throw ASTError(.format, "\(source): label \(bad) is \(bytes[bad]), outside 0..<\(classes)")
    }
    return bytes.map { Int32($0) }
}
