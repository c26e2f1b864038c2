// ImageDatasetTests: validation, fingerprint, subsets and class bookkeeping of ImageDataset/DatasetPair.

import ASTCore
import ASTData
import Testing

@Suite struct ImageDatasetTests {
    /// 2 images, 1x1x2, 3 classes.
    func tiny(_ pixels: [Float] = [0, 0.5, 1, 0.25], labels: [Int32] = [2, 0]) throws(ASTError) -> ImageDataset {
        try ImageDataset(images: pixels, labels: labels, count: 2, channels: 1, height: 1, width: 2, classes: 3)
    }

    @Test func validDatasetKeepsShapeAndCounts() throws {
        let d = try tiny()
        #expect(d.imageSize == 2)
        #expect(d.classCounts == [1, 0, 1])
        #expect(d.indices(ofClass: 2) == [0])
        #expect(d.indices(ofClass: 1) == [])
        #expect(d.indices(ofClass: 7) == [])
    }

    @Test func fingerprintIsFNV1aOfShapePixelsLabels() throws {
        // Computed independently (Python) over <5q shape, <4f pixels, <2i labels.
        #expect(try tiny().fingerprint == "7c50f72e3f2490e6")
        #expect(try tiny().fingerprint == tiny().fingerprint)
        #expect(try tiny([0, 0.5, 1, 0.5]).fingerprint != tiny().fingerprint)
        #expect(try tiny(labels: [2, 1]).fingerprint != tiny().fingerprint)
        let reshaped = try ImageDataset(
            images: [0, 0.5, 1, 0.25], labels: [2, 0], count: 2, channels: 1,
            height: 2, width: 1, classes: 3)
        #expect(reshaped.fingerprint != (try tiny().fingerprint))
        #expect(try tiny().fingerprint.count == 16)
    }

    @Test func subsetCopiesImagesInOrder() throws {
        let d = try tiny()
        let s = try d.subset([1, 0, 1])
        #expect(s.count == 3)
        #expect(s.images == [1, 0.25, 0, 0.5, 1, 0.25])
        #expect(s.labels == [0, 2, 0])
        expectASTError(.invalidArgument, "indices[1] = 2") { () throws(ASTError) in _ = try d.subset([0, 2]) }
        expectASTError(.invalidArgument, "indices[0] = -1") { () throws(ASTError) in _ = try d.subset([-1]) }
        expectASTError(.invalidArgument, "empty") { () throws(ASTError) in _ = try d.subset([]) }
    }

    @Test func rejectsBadSizes() {
        expectASTError(.invalidArgument, "count") { () throws(ASTError) in
            _ = try ImageDataset(images: [], labels: [], count: 0, channels: 1, height: 1, width: 1, classes: 2)
        }
        expectASTError(.invalidArgument, "width") { () throws(ASTError) in
            _ = try ImageDataset(images: [1], labels: [0], count: 1, channels: 1, height: 1, width: -3, classes: 2)
        }
        expectASTError(.invalidArgument, "classes") { () throws(ASTError) in
            _ = try ImageDataset(images: [1], labels: [0], count: 1, channels: 1, height: 1, width: 1, classes: 0)
        }
        expectASTError(.invalidArgument, "overflows") { () throws(ASTError) in
            _ = try ImageDataset(
                images: [1], labels: [0], count: 1 << 40, channels: 1 << 20, height: 1 << 10,
                width: 1, classes: 2)
        }
        expectASTError(.shapeMismatch, "images has 3 values", "= 4") { () throws(ASTError) in
            _ = try tiny([0, 0, 0])
        }
        expectASTError(.shapeMismatch, "labels has 3 entries") { () throws(ASTError) in
            _ = try tiny(labels: [0, 1, 2])
        }
    }

    @Test func rejectsBadValues() {
        expectASTError(.invalidArgument, "labels[1] = 3", "0..<3") { () throws(ASTError) in
            _ = try tiny(labels: [0, 3])
        }
        expectASTError(.invalidArgument, "labels[0] = -1") { () throws(ASTError) in
            _ = try tiny(labels: [-1, 0])
        }
        expectASTError(.nonFinite, "images[2]") { () throws(ASTError) in
            _ = try tiny([0, 0, .nan, 0])
        }
        expectASTError(.nonFinite, "images[3]") { () throws(ASTError) in
            _ = try tiny([0, 0, 0, -.infinity])
        }
    }

    @Test func pairRequiresMatchingGeometryAndClasses() throws {
        let a = try tiny()
        let pair = try DatasetPair(train: a, test: a.subset([1]))
        #expect(pair.test.count == 1)
        let tall = try ImageDataset(images: [0, 1], labels: [0], count: 1, channels: 1, height: 2, width: 1, classes: 3)
        expectASTError(.shapeMismatch, "1x1x2", "1x2x1") { () throws(ASTError) in
            _ = try DatasetPair(train: a, test: tall)
        }
        let fewer = try ImageDataset(
            images: [0, 1], labels: [0], count: 1, channels: 1, height: 1, width: 2, classes: 2)
        expectASTError(.shapeMismatch, "3 classes", "2") { () throws(ASTError) in
            _ = try DatasetPair(train: a, test: fewer)
        }
    }
}
