// ImageDataset: a validated labelled image set (NCHW pixels + class labels) and a train/test pair.

import ASTCore

/// A labelled image set held in memory.
///
/// Every value of this type has been validated once, at construction: the shape is positive and
/// its products do not overflow, `images` holds exactly `count * channels * height * width`
/// finite values (NCHW, row-major), and every label lies in `0..<classes`. Code that receives an
/// `ImageDataset` can therefore index it without re-checking.
public struct ImageDataset: Sendable, Equatable {
    /// Pixels, NCHW row-major: image `n`, channel `c`, row `y`, column `x` is at
    /// `((n * channels + c) * height + y) * width + x`.
    public let images: [Float]
    /// One class label per image, in `0..<classes`.
    public let labels: [Int32]
    public let count: Int
    public let channels: Int
    public let height: Int
    public let width: Int
    public let classes: Int

    /// Validates and wraps the given pixels and labels; errors name the argument and, for bad
    /// values, the first offending index.
    public init(
        images: [Float], labels: [Int32], count: Int, channels: Int, height: Int,
        width: Int, classes: Int
    ) throws(ASTError) {
        for (name, value) in [
            ("count", count), ("channels", channels), ("height", height),
            ("width", width), ("classes", classes)
        ] where value <= 0 {
            throw ASTError.invalid("ImageDataset: \(name) must be positive, got \(value)")
        }
        guard classes <= Int(Int32.max) else {
            throw ASTError.invalid("ImageDataset: classes \(classes) does not fit the Int32 labels")
        }
        let total = try checkedProduct(
            [count, channels, height, width],
            "ImageDataset: count*channels*height*width")
        guard images.count == total else {
            throw ASTError.shape(
                "ImageDataset: images has \(images.count) values but "
                    + "count*channels*height*width = \(count)*\(channels)*\(height)*\(width) = \(total)")
        }
        guard labels.count == count else {
            throw ASTError.shape("ImageDataset: labels has \(labels.count) entries but count = \(count)")
        }
        if let bad = firstOutOfRange(labels, classes: classes) {
            throw ASTError.invalid("ImageDataset: labels[\(bad)] = \(labels[bad]) is outside 0..<\(classes)")
        }
        if let bad = firstNonFinite(images) {
            throw ASTError(.nonFinite, "ImageDataset: images[\(bad)] = \(images[bad]) is not finite")
        }
        self.images = images
        self.labels = labels
        self.count = count
        self.channels = channels
        self.height = height
        self.width = width
        self.classes = classes
    }

    /// Values per image, `channels * height * width` (cannot overflow: checked at init).
    public var imageSize: Int { channels * height * width }

    /// A stable 64-bit content hash, as 16 lowercase hex digits.
    ///
    /// FNV-1a (64-bit offset basis 0xcbf29ce484222325, prime 0x100000001b3) over, in order:
    /// `count, channels, height, width, classes` as little-endian Int64, every pixel's IEEE-754
    /// bit pattern as a little-endian UInt32, and every label as a little-endian Int32. It depends
    /// only on values (not on platform or process), so it identifies a dataset across runs, the C
    /// API and the Python binding; `0.0` and `-0.0` hash differently.
    public var fingerprint: String {
        var hash = FNV1a()
        for v in [count, channels, height, width, classes] { hash.add(UInt64(bitPattern: Int64(v))) }
        images.withUnsafeBufferPointer { px in
            for v in px { hash.add(v.bitPattern) }
        }
        labels.withUnsafeBufferPointer { ls in
            for v in ls { hash.add(UInt32(bitPattern: v)) }
        }
        return hash.hex
    }

    /// The images at `indices`, in that order (repeats allowed). Empty or out-of-range
    /// indices throw: a dataset always holds at least one image.
    public func subset(_ indices: [Int]) throws(ASTError) -> ImageDataset {
        guard !indices.isEmpty else {
            throw ASTError.invalid("ImageDataset.subset: indices is empty")
        }
        for (i, index) in indices.enumerated() where index < 0 || index >= count {
            throw ASTError.invalid("ImageDataset.subset: indices[\(i)] = \(index) is outside 0..<\(count)")
        }
        let size = imageSize
        var pixels = [Float]()
        pixels.reserveCapacity(indices.count * size)
        images.withUnsafeBufferPointer { src in
            for index in indices {
                pixels.append(contentsOf: src[(index * size)..<((index + 1) * size)])
            }
        }
        return try ImageDataset(
            images: pixels, labels: indices.map { labels[$0] }, count: indices.count,
            channels: channels, height: height, width: width, classes: classes)
    }

    /// Indices of the images labelled `label`, ascending (empty for a label outside the classes).
    public func indices(ofClass label: Int) -> [Int] {
        var result = [Int]()
        for (i, l) in labels.enumerated() where Int(l) == label { result.append(i) }
        return result
    }

    /// Number of images per class, indexed by label (length `classes`).
    public var classCounts: [Int] {
        var counts = [Int](repeating: 0, count: classes)
        for l in labels { counts[Int(l)] += 1 }
        return counts
    }
}

/// A training set and a test set of the same kind of image, as distillation and evaluation need.
public struct DatasetPair: Sendable, Equatable {
    public let train: ImageDataset
    public let test: ImageDataset

    /// Requires both sets to share channels, height, width and the number of classes.
    public init(train: ImageDataset, test: ImageDataset) throws(ASTError) {
        guard train.channels == test.channels, train.height == test.height, train.width == test.width else {
            throw ASTError.shape(
                "DatasetPair: train images are \(train.channels)x\(train.height)x\(train.width) "
                    + "but test images are \(test.channels)x\(test.height)x\(test.width)")
        }
        guard train.classes == test.classes else {
            throw ASTError.shape("DatasetPair: train has \(train.classes) classes but test has \(test.classes)")
        }
        self.train = train
        self.test = test
    }
}

/// Product of sizes with overflow reported as an error naming `what` (sizes must be >= 0).
func checkedProduct(_ factors: [Int], _ what: String) throws(ASTError) -> Int {
    var total = 1
    for f in factors {
        guard f >= 0 else { throw ASTError.invalid("\(what): negative size \(f)") }
        let (p, overflow) = total.multipliedReportingOverflow(by: f)
        guard !overflow else {
            throw ASTError.invalid("\(what): \(factors.map(String.init).joined(separator: "*")) overflows")
        }
        total = p
    }
    return total
}

private func firstOutOfRange(_ labels: [Int32], classes: Int) -> Int? {
    let limit = Int32(classes)
    return labels.withUnsafeBufferPointer { ls in
        for i in ls.indices where ls[i] < 0 || ls[i] >= limit { return i }
        return nil
    }
}

private func firstNonFinite(_ values: [Float]) -> Int? {
    values.withUnsafeBufferPointer { vs in
        for i in vs.indices where !vs[i].isFinite { return i }
        return nil
    }
}

/// 64-bit FNV-1a fed with little-endian words.
struct FNV1a {
    private(set) var state: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func add(_ byte: UInt8) {
        state = (state ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
    }

    mutating func add(_ word: UInt32) {
        add(UInt8(truncatingIfNeeded: word)); add(UInt8(truncatingIfNeeded: word >> 8))
        add(UInt8(truncatingIfNeeded: word >> 16)); add(UInt8(truncatingIfNeeded: word >> 24))
    }

    mutating func add(_ word: UInt64) {
        add(UInt32(truncatingIfNeeded: word)); add(UInt32(truncatingIfNeeded: word >> 32))
    }

    var hex: String {
        let digits = String(state, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
