// fuzz target: IDX (MNIST-family) files, plain and gzipped, and the image/label loader.
import ASTCore
import ASTData

private let images = ScratchFile(name: "idx-images")
private let labels = ScratchFile(name: "idx-labels")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIDX(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = inputBytes(data, size)
    if let array = try? IDX.decode(bytes) { consume(array) }
    // The path entry point: gzip detection, capped inflate, then decode.
    images.set(bytes)
    guard let array = try? IDX.read(path: images.path, maxBytes: 1 << 24) else { return 0 }
    // A rank-3 image file goes through the dataset loader with matching labels (all class 0),
    // a rank-1 file is tried as the label file of a 1x1x1 image set of the same count.
    if array.shape.count == 3, array.shape[0] <= 1 << 16 {
        let n = array.shape[0]
        labels.set(
            [
                0, 0, 8, 1, UInt8(truncatingIfNeeded: n >> 24), UInt8(truncatingIfNeeded: n >> 16),
                UInt8(truncatingIfNeeded: n >> 8), UInt8(truncatingIfNeeded: n)
            ] + [UInt8](repeating: 0, count: n))
        if let set = try? loadIDXDataset(imagesPath: images.path, labelsPath: labels.path, classes: 10) {
            blackHole(set.fingerprint)
        }
    } else if array.shape.count == 1, array.shape[0] <= 1 << 16 {
        let n = array.shape[0]
        labels.set(bytes)
        images.set(
            [
                0, 0, 8, 3, UInt8(truncatingIfNeeded: n >> 24), UInt8(truncatingIfNeeded: n >> 16),
                UInt8(truncatingIfNeeded: n >> 8), UInt8(truncatingIfNeeded: n), 0, 0, 0, 1, 0, 0, 0, 1
            ]
                + [UInt8](repeating: 7, count: n))
        if let set = try? loadIDXDataset(imagesPath: images.path, labelsPath: labels.path, classes: 10) {
            blackHole(set.classCounts)
        }
    }
    return 0
}
