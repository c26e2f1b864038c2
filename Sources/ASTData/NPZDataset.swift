import ASTCore

/// A user's own labelled images as one .npz file (`np.savez(path, train_images=..., ...)`):
///
///     train_images  [N, C, H, W] or [N, H, W] (one channel), H == W
///     train_labels  [N] integers 0 ..< K; every class has at least one training image
///     test_images   [M, C, H, W] or [M, H, W], the same C, H, W
///     test_labels   [M] integers 0 ..< K
///
/// Keras's names (x_train, y_train, x_test, y_test, as in its mnist.npz) are read too. Images of
/// dtype uint8 are divided by 255; other real dtypes (float32/64, int8/32/64, bool) are used as
/// they are. K = the largest training label + 1.
public func loadNPZDataset(path: String) throws(ASTError) -> DatasetPair {
    let archive = try NPZArchive(path: path)
    let schemes = [
        ["train_images", "train_labels", "test_images", "test_labels"],
        ["x_train", "y_train", "x_test", "y_test"]
    ]
    guard let names = schemes.first(where: { $0.allSatisfy(archive.contains) }) else {
        let missing = schemes[0].filter { !archive.contains($0) }
        throw ASTError(
            .format,
            "\(path): missing \(missing.joined(separator: ", ")) (an .npz dataset holds train_images, train_labels, "
                + "test_images, test_labels; it has "
                + "\(archive.names.isEmpty ? "no arrays" : archive.names.joined(separator: ", ")))"
        )
    }
    let trainImages = try archive.array(names[0]), trainLabels = try archive.array(names[1])
    let testImages = try archive.array(names[2]), testLabels = try archive.array(names[3])

    func labels(_ a: NDArray, _ name: String, count: Int) throws(ASTError) -> [Int64] {
        guard a.shape == [count] else {
            throw ASTError.shape("\(path): \(name) has shape \(a.shape); it must be [\(count)], one label per image")
        }
        guard a.dtype != .f4, a.dtype != .f8 else {
            throw ASTError(
                .format, "\(path): \(name) has dtype \(a.dtype.descr); labels must be integers (int8/32/64 or uint8)")
        }
        let values = try a.int64s()
        if let i = values.firstIndex(where: { $0 < 0 || $0 >= Int64(Int32.max) }) {
            throw ASTError.invalid(
                "\(path): \(name)[\(i)] = \(values[i]); labels must be 0, 1, ... (number of classes - 1)")
        }
        return values
    }
    func imageShape(_ a: NDArray, _ name: String) throws(ASTError) -> (count: Int, channels: Int, side: Int) {
        let s = a.shape
        guard s.count == 3 || s.count == 4 else {
            throw ASTError.shape("\(path): \(name) has shape \(s); it must be [N, C, H, W] or [N, H, W]")
        }
        let (n, c, h, w) = s.count == 4 ? (s[0], s[1], s[2], s[3]) : (s[0], 1, s[1], s[2])
        guard n >= 1 else { throw ASTError.shape("\(path): \(name) holds no images") }
        guard h == w else {
            throw ASTError.shape("\(path): \(name) images are \(h)x\(w); the ConvNet needs square images (H == W)")
        }
        guard (1...64).contains(c) else {
            throw ASTError.shape(
                "\(path): \(name) has \(c) channels (shape \(s)); expected 1...64 — is it N×H×W×C? store N×C×H×W")
        }
        return (n, c, h)
    }
    func pixels(_ a: NDArray) -> [Float] {
        a.dtype == .u1 ? a.floats().map { $0 / 255 } : a.floats()
    }

    let train = try imageShape(trainImages, names[0]), test = try imageShape(testImages, names[2])
    guard (test.channels, test.side) == (train.channels, train.side) else {
        throw ASTError.shape(
            "\(path): \(names[0]) are \(train.channels)x\(train.side)x\(train.side) but \(names[2]) are "
                + "\(test.channels)x\(test.side)x\(test.side)"
        )
    }
    let yTrain = try labels(trainLabels, names[1], count: train.count)
    let yTest = try labels(testLabels, names[3], count: test.count)
    let classes = Int(yTrain.max()! + 1)
    var counts = [Int](repeating: 0, count: classes)
    for y in yTrain { counts[Int(y)] += 1 }
    if let empty = counts.firstIndex(of: 0) {
        throw ASTError.invalid(
            "\(path): class \(empty) has no training images (\(names[1]) go up to \(classes - 1); every class "
                + "0...\(classes - 1) needs images)"
        )
    }
    if let i = yTest.firstIndex(where: { $0 >= Int64(classes) }) {
        throw ASTError.invalid(
            "\(path): \(names[3])[\(i)] = \(yTest[i]) but the training labels have only \(classes) classes "
                + "(0...\(classes - 1))"
        )
    }
    func dataset(
        _ a: NDArray, _ y: [Int64], _ shape: (count: Int, channels: Int, side: Int), _ name: String
    ) throws(ASTError) -> ImageDataset {
        do throws(ASTError) {
            return try ImageDataset(
                images: pixels(a), labels: y.map { Int32($0) }, count: shape.count, channels: shape.channels,
                height: shape.side, width: shape.side, classes: classes)
        } catch {
            throw ASTError(error.kind, "\(path): \(name): \(error.message.replacingPrefix("ImageDataset: ", with: ""))")
        }
    }
    return try DatasetPair(
        train: dataset(trainImages, yTrain, train, names[0]), test: dataset(testImages, yTest, test, names[2]))
}

extension String {
    func replacingPrefix(_ prefix: String, with replacement: String) -> String {
        hasPrefix(prefix) ? replacement + dropFirst(prefix.count) : self
    }
}
