// CIFAR: the CIFAR-10 and CIFAR-100 binary batch formats and loaders for their standard
// directory layouts.

import ASTCore

/// Which CIFAR binary record layout a batch file uses.
public enum CIFARFormat: Sendable {
    /// 1 label byte (0..<10), then 3072 pixel bytes.
    case cifar10
    /// 1 coarse label byte (0..<20), 1 fine label byte (0..<100), then 3072 pixel bytes; the
    /// fine label is the one used.
    case cifar100

    public var classes: Int { self == .cifar10 ? 10 : 100 }
    var labelBytes: Int { self == .cifar10 ? 1 : 2 }
    /// Bytes per record: labels then a 3x32x32 image stored channel-major (R, G, B planes).
    var recordSize: Int { labelBytes + cifarImageBytes }
}

/// 3 channels x 32 x 32; the bytes are already in CHW order.
let cifarImageBytes = 3 * 32 * 32

/// Loads and concatenates CIFAR binary batch files (e.g. `data_batch_1.bin` ... `data_batch_5.bin`)
/// into one 3x32x32 dataset with pixels scaled to [0, 1] (byte / 255). Each file must hold a
/// whole, non-zero number of records with labels in range.
public func loadCIFARBatches(paths: [String], format: CIFARFormat) throws(ASTError) -> ImageDataset {
    guard !paths.isEmpty else { throw ASTError.invalid("loadCIFARBatches: paths is empty") }
    var pixels = [Float]()
    var labels = [Int32]()
    for path in paths {
        let bytes = try BinaryFile.read(path)
        let record = format.recordSize
        guard !bytes.isEmpty, bytes.count % record == 0 else {
            throw ASTError(
                .format,
                "\(path): \(bytes.count) bytes is not a whole number of "
                    + "\(format == .cifar10 ? "CIFAR-10" : "CIFAR-100") records of \(record) bytes "
                    + "(truncated or wrong format?)"
            )
        }
        let n = bytes.count / record
        pixels.reserveCapacity(pixels.count + n * cifarImageBytes)
        labels.reserveCapacity(labels.count + n)
        var bad: (index: Int, what: String)?
        bytes.withUnsafeBufferPointer { b in
            for r in 0..<n {
                let base = r * record
                if format == .cifar100, b[base] >= 20 {
                    bad = (r, "coarse label \(b[base]) is outside 0..<20"); return
                }
                let label = b[base + format.labelBytes - 1]
                if Int(label) >= format.classes {
                    bad = (r, "label \(label) is outside 0..<\(format.classes)"); return
                }
                labels.append(Int32(label))
                let start = base + format.labelBytes
                for i in start..<(start + cifarImageBytes) { pixels.append(Float(b[i]) / 255) }
            }
        }
        if let bad { throw ASTError(.format, "\(path): record \(bad.index): \(bad.what)") }
    }
    return try ImageDataset(
        images: pixels, labels: labels, count: labels.count, channels: 3,
        height: 32, width: 32, classes: format.classes)
}

/// CIFAR-10 (50000 train / 10000 test) from `data_batch_1.bin` ... `data_batch_5.bin` and
/// `test_batch.bin` in `directory` or in its `cifar-10-batches-bin` subdirectory (the layout of
/// the official `cifar-10-binary.tar.gz`).
public func loadCIFAR10(directory: String) throws(ASTError) -> DatasetPair {
    let train = (1...5).map { "data_batch_\($0).bin" }
    let dir = try cifarDirectory(
        directory, subdirectory: "cifar-10-batches-bin",
        files: train + ["test_batch.bin"], dataset: "CIFAR-10")
    return try DatasetPair(
        train: loadCIFARBatches(paths: train.map { joinPath(dir, $0) }, format: .cifar10),
        test: loadCIFARBatches(paths: [joinPath(dir, "test_batch.bin")], format: .cifar10))
}

/// CIFAR-100 (50000 train / 10000 test, fine labels) from `train.bin` and `test.bin` in
/// `directory` or in its `cifar-100-binary` subdirectory.
public func loadCIFAR100(directory: String) throws(ASTError) -> DatasetPair {
    let dir = try cifarDirectory(
        directory, subdirectory: "cifar-100-binary",
        files: ["train.bin", "test.bin"], dataset: "CIFAR-100")
    return try DatasetPair(
        train: loadCIFARBatches(paths: [joinPath(dir, "train.bin")], format: .cifar100),
        test: loadCIFARBatches(paths: [joinPath(dir, "test.bin")], format: .cifar100))
}

/// `directory` or `directory/subdirectory`, whichever holds all `files`.
private func cifarDirectory(
    _ directory: String, subdirectory: String, files: [String],
    dataset: String
) throws(ASTError) -> String {
    for dir in [directory, joinPath(directory, subdirectory)] {
        if files.allSatisfy({ BinaryFile.exists(joinPath(dir, $0)) }) { return dir }
    }
    let missing = files.filter { !BinaryFile.exists(joinPath(directory, $0)) }
    throw ASTError(
        .io,
        "\(dataset): \(missing.joined(separator: ", ")) not found in \(directory) "
            + "or \(joinPath(directory, subdirectory)); point to the directory of the binary version "
            + "(\(files.joined(separator: ", ")))")
}
