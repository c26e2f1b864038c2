// ast_dataset: a labelled image set copied from caller memory.

import ASTCore
import ASTData
import CAst

final class DatasetBox: HandleBox {
    override class var staticTypeName: StaticString { "ast_dataset" }
    let dataset: ImageDataset
    /// The fingerprint as a C string owned by this handle.
    let fingerprint: CStringTable

    init(_ dataset: ImageDataset) {
        self.dataset = dataset
        self.fingerprint = CStringTable([dataset.fingerprint])
    }
}

/// Largest channels / height / width of a dataset.
private let maxImageSide: Int64 = 65536

@c @implementation
public func ast_dataset_create(
    _ images: UnsafePointer<Float>!, _ imagesLen: Int64,
    _ labels: UnsafeRawPointer!, _ labelType: Int32, _ labelsLen: Int64,
    _ count: Int64, _ channels: Int64, _ height: Int64, _ width: Int64,
    _ classes: Int64,
    _ out: UnsafeMutablePointer<OpaquePointer?>!
) -> ast_status {
    out?.pointee = nil
    return entry { () throws(CFailure) in
        let args = Arguments("ast_dataset_create")
        let out = try args.required(out, "out")
        let images = try args.required(images, "images")
        let labels = try args.required(labels, "labels")
        let n = try args.integer(count, "count", in: 1...Int64(Int32.max))
        let c = try args.integer(channels, "channels", in: 1...maxImageSide)
        let h = try args.integer(height, "height", in: 1...maxImageSide)
        let w = try args.integer(width, "width", in: 1...maxImageSide)
        let k = try args.integer(classes, "classes", in: 2...100_000)
        guard labelType == Int32(AST_LABELS_INT32) || labelType == Int32(AST_LABELS_INT64) else {
            throw args.fail(
                Status.invalidArgument,
                "label_type must be AST_LABELS_INT32 (1) or AST_LABELS_INT64 (2), got \(labelType)")
        }
        let total = try args.product([n, c, h, w], "count*channels*height*width")
        try args.inputLength(imagesLen, "images_len", equals: total, "count*channels*height*width")
        try args.inputLength(labelsLen, "labels_len", equals: n, "count")
        let pixels = try args.finiteFloats(images, count: total, "images")
        let classLabels: [Int32]
        if labelType == Int32(AST_LABELS_INT32) {
            classLabels = try args.labels(
                labels.assumingMemoryBound(to: Int32.self), count: n,
                classes: k, "labels")
        } else {
            classLabels = try args.labels(
                labels.assumingMemoryBound(to: Int64.self), count: n,
                classes: k, "labels")
        }
        let dataset: ImageDataset
        do throws(ASTError) {
            dataset = try ImageDataset(
                images: pixels, labels: classLabels, count: n, channels: c,
                height: h, width: w, classes: k)
        } catch {
            throw args.engine(error)
        }
        out.pointee = retainedHandle(DatasetBox(dataset))
    }
}

@c @implementation
public func ast_dataset_free(_ dataset: OpaquePointer!) {
    releaseHandle(dataset)
}

@c @implementation
public func ast_dataset_last_error(_ dataset: OpaquePointer!) -> UnsafePointer<CChar>! {
    handleLastError(dataset, as: DatasetBox.self, nullMessage: "ast_dataset_last_error: dataset is NULL")
}

@c @implementation
public func ast_dataset_shape(
    _ dataset: OpaquePointer!, _ outCount: UnsafeMutablePointer<Int64>!,
    _ outChannels: UnsafeMutablePointer<Int64>!,
    _ outHeight: UnsafeMutablePointer<Int64>!,
    _ outWidth: UnsafeMutablePointer<Int64>!,
    _ outClasses: UnsafeMutablePointer<Int64>!
) -> ast_status {
    entry("ast_dataset_shape", dataset, as: DatasetBox.self, argument: "dataset") { box throws(CFailure) in
        let d = box.dataset
        outCount?.pointee = Int64(d.count)
        outChannels?.pointee = Int64(d.channels)
        outHeight?.pointee = Int64(d.height)
        outWidth?.pointee = Int64(d.width)
        outClasses?.pointee = Int64(d.classes)
    }
}

@c @implementation
public func ast_dataset_fingerprint(
    _ dataset: OpaquePointer!,
    _ out: UnsafeMutablePointer<UnsafePointer<CChar>?>!
) -> ast_status {
    entry("ast_dataset_fingerprint", dataset, as: DatasetBox.self, argument: "dataset") { box throws(CFailure) in
        let out = try Arguments("ast_dataset_fingerprint").required(out, "out")
        out.pointee = box.fingerprint[0]
    }
}

@c @implementation
public func ast_dataset_copy_images(
    _ dataset: OpaquePointer!, _ out: UnsafeMutablePointer<Float>!,
    _ outLen: Int64
) -> ast_status {
    entry("ast_dataset_copy_images", dataset, as: DatasetBox.self, argument: "dataset") { box throws(CFailure) in
        let args = Arguments("ast_dataset_copy_images")
        let out = try args.required(out, "out")
        let images = box.dataset.images
        try args.outputLength(outLen, "out_len", atLeast: images.count, "count*channels*height*width")
        try args.write(images, to: out, expected: images.count, "images")
    }
}

@c @implementation
public func ast_dataset_copy_labels(
    _ dataset: OpaquePointer!, _ out: UnsafeMutablePointer<Int32>!,
    _ outLen: Int64
) -> ast_status {
    entry("ast_dataset_copy_labels", dataset, as: DatasetBox.self, argument: "dataset") { box throws(CFailure) in
        let args = Arguments("ast_dataset_copy_labels")
        let out = try args.required(out, "out")
        let labels = box.dataset.labels
        try args.outputLength(outLen, "out_len", atLeast: labels.count, "count")
        labels.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { out.update(from: base, count: labels.count) }
        }
    }
}
