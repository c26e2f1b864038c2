// ImageFormatTests: IDX (plain and gzipped), the MNIST-family loaders, CIFAR-10/100 batches, and
// the real Fashion-MNIST when it is installed.

import ASTCore
import ASTData
import Testing

@Suite struct IDXTests {
    /// 3 images of 4x5 and their labels.
    let pixels = patternBytes(3 * 4 * 5, seed: 9)
    let labels: [UInt8] = [9, 0, 3]

    func writePair(_ dir: String, gzip: Bool, stem: String = "") throws -> (String, String) {
        var images = idxBytes([3, 4, 5], pixels), labelBytes = idxBytes([3], labels)
        if gzip { images = try gzipCompress(images); labelBytes = try gzipCompress(labelBytes) }
        let suffix = gzip ? ".gz" : ""
        return (
            try writeFile(dir, stem + "images" + suffix, images),
            try writeFile(dir, stem + "labels" + suffix, labelBytes)
        )
    }

    @Test(arguments: [false, true])
    func loadsPlainAndGzipped(gzip: Bool) throws {
        try withTempDirectory { dir in
            let (images, labelsPath) = try writePair(dir, gzip: gzip)
            let raw = try IDX.read(path: images)
            #expect(raw.shape == [3, 4, 5] && raw.bytes == pixels)
            let d = try loadIDXDataset(imagesPath: images, labelsPath: labelsPath, classes: 10)
            #expect((d.count, d.channels, d.height, d.width, d.classes) == (3, 1, 4, 5, 10))
            #expect(d.labels == [9, 0, 3])
            #expect(d.images == pixels.map { Float($0) / 255 })
            #expect(d.images.allSatisfy { $0 >= 0 && $0 <= 1 })
        }
    }

    @Test func rejectsBadHeadersAndSizes() throws {
        let cases: [([UInt8], ASTError.Kind, String)] = [
            ([0, 0, 8], .format, "too short"),
            ([1, 0, 8, 1, 0, 0, 0, 1, 7], .format, "magic"),
            ([0, 0, 0x42, 1, 0, 0, 0, 1, 7], .format, "unknown element type"),
            (idxBytes([1], [0, 0, 0, 0], type: 0x0D), .unsupported, "float32"),
            ([0, 0, 8, 0], .format, "0 dimensions"),
            ([0, 0, 8, 3, 0, 0, 0, 1], .format, "truncated IDX header"),
            (idxBytes([3, 4, 5], patternBytes(59)), .format, "only 59 bytes"),
            (idxBytes([3, 4, 5], patternBytes(61)), .format, "has 61"),
            // 2^31 images of 28x28 claimed by a 100-byte file: refused by arithmetic, not allocation.
            (idxBytes([1 << 31, 28, 28], patternBytes(84)), .format, "only 84 bytes"),
            (idxBytes([UInt32.max, UInt32.max, UInt32.max, UInt32.max], []), .format, "only 0 bytes")
        ]
        for (bytes, kind, fragment) in cases {
            expectASTError(kind, "bad.idx", fragment) { () throws(ASTError) in
                _ = try IDX.decode(bytes, source: "bad.idx")
            }
        }
        // Zero-sized dimensions are consistent with an empty payload, whatever the others claim.
        #expect(try IDX.decode(idxBytes([0, UInt32.max], [])).shape == [0, Int(UInt32.max)])
    }

    @Test func loaderChecksPairingAndLabels() throws {
        try withTempDirectory { dir in
            let (images, labelsPath) = try writePair(dir, gzip: true)
            expectASTError(.format, labelsPath, "label 0 is 9", "0..<5") { () throws(ASTError) in
                _ = try loadIDXDataset(imagesPath: images, labelsPath: labelsPath, classes: 5)
            }
            let twoLabels = try writeFile(dir, "two", idxBytes([2], [1, 2]))
            expectASTError(.shapeMismatch, "2 labels", "3 images") { () throws(ASTError) in
                _ = try loadIDXDataset(imagesPath: images, labelsPath: twoLabels)
            }
            expectASTError(.format, "expected images of shape (N, H, W)") { () throws(ASTError) in
                _ = try loadIDXDataset(imagesPath: twoLabels, labelsPath: labelsPath)
            }
            expectASTError(.format, "expected labels of shape (N)") { () throws(ASTError) in
                _ = try loadIDXDataset(imagesPath: images, labelsPath: images)
            }
            let gz = try BinaryFile.read(images)
            let cut = try writeFile(dir, "cut.gz", Array(gz.prefix(gz.count - 10)))
            expectASTError(.format, "cut.gz") { () throws(ASTError) in _ = try IDX.read(path: cut) }
            expectASTError(.outOfMemory, "cap") { () throws(ASTError) in _ = try IDX.read(path: images, maxBytes: 20) }
            expectASTError(.io, "no such file") { () throws(ASTError) in
                _ = try loadIDXDataset(imagesPath: dir + "/none", labelsPath: labelsPath)
            }
        }
    }

    @Test func mnistFamilyLoadersFindStandardNames() throws {
        try withTempDirectory { dir in
            // Train set gzipped with standard names, test set plain with the dotted spelling.
            let trainImages = idxBytes([3, 4, 5], pixels), trainLabels = idxBytes([3], labels)
            let testImages = idxBytes([1, 4, 5], Array(pixels.prefix(20))), testLabels = idxBytes([1], [4])
            try writeFile(dir, "train-images-idx3-ubyte.gz", gzipCompress(trainImages))
            try writeFile(dir, "train-labels-idx1-ubyte.gz", gzipCompress(trainLabels))
            try writeFile(dir, "t10k-images.idx3-ubyte", testImages)
            expectASTError(.io, "Fashion-MNIST", "t10k-labels-idx1-ubyte", "apt-get install -y dataset-fashion-mnist") {
                () throws(ASTError) in _ = try loadFashionMNIST(directory: dir)
            }
            try writeFile(dir, "t10k-labels-idx1-ubyte", testLabels)
            let pair = try loadFashionMNIST(directory: dir)
            #expect(pair.train.count == 3 && pair.test.count == 1 && pair.test.labels == [4])
            #expect(try loadMNIST(directory: dir) == pair)
            expectASTError(.io, "MNIST", "does not exist", "four standard MNIST IDX files") { () throws(ASTError) in
                _ = try loadMNIST(directory: dir + "/absent")
            }
            expectASTError(.io, "apt-get install -y dataset-fashion-mnist") { () throws(ASTError) in
                _ = try loadFashionMNIST(directory: dir + "/absent")
            }
        }
    }

    @Test func realFashionMNISTWhenInstalled() throws {
        let directory = "/usr/share/datasets/fashion-mnist"
        guard BinaryFile.isDirectory(directory) else { return }
        let pair = try loadFashionMNIST()
        #expect((pair.train.count, pair.test.count) == (60000, 10000))
        #expect((pair.train.channels, pair.train.height, pair.train.width, pair.train.classes) == (1, 28, 28, 10))
        #expect(pair.train.classCounts == [Int](repeating: 6000, count: 10))
        #expect(pair.test.classCounts == [Int](repeating: 1000, count: 10))
        // First labels of the official files (9 = ankle boot), and the first train image's byte sum.
        #expect(Array(pair.train.labels.prefix(5)) == [9, 0, 0, 3, 0])
        #expect(Array(pair.test.labels.prefix(5)) == [9, 2, 1, 1, 6])
        let firstSum = pair.train.images.prefix(784).reduce(Float(0)) { $0 + $1 * 255 }
        #expect(abs(firstSum - 76247) < 0.5)
        #expect(pair.train.images.max() == 1 && pair.train.images.min() == 0)
    }
}

@Suite struct CIFARTests {
    /// One CIFAR record: label byte(s) then 3072 pixel bytes.
    func record(_ labels: [UInt8], seed: UInt64) -> [UInt8] { labels + patternBytes(3072, seed: seed) }

    @Test func cifar10BatchesConcatenate() throws {
        try withTempDirectory { dir in
            let b1 = try writeFile(dir, "data_batch_1.bin", record([3], seed: 1) + record([9], seed: 2))
            let b2 = try writeFile(dir, "b2.bin", record([0], seed: 3))
            let d = try loadCIFARBatches(paths: [b1, b2], format: .cifar10)
            #expect((d.count, d.channels, d.height, d.width, d.classes) == (3, 3, 32, 32, 10))
            #expect(d.labels == [3, 9, 0])
            let expected = (patternBytes(3072, seed: 1) + patternBytes(3072, seed: 2) + patternBytes(3072, seed: 3))
                .map { Float($0) / 255 }
            #expect(d.images == expected)
            // Channel-major: image 1, channel 2 (blue), row 0, column 0 is its byte 2048.
            #expect(d.images[3072 + 2048] == Float(patternBytes(3072, seed: 2)[2048]) / 255)
        }
    }

    @Test func cifar100UsesFineLabels() throws {
        try withTempDirectory { dir in
            let path = try writeFile(dir, "train.bin", record([19, 99], seed: 4) + record([0, 42], seed: 5))
            let d = try loadCIFARBatches(paths: [path], format: .cifar100)
            #expect(d.labels == [99, 42] && d.classes == 100)
            let bad = try writeFile(dir, "bad.bin", record([1, 2], seed: 6) + record([20, 2], seed: 7))
            expectASTError(.format, "bad.bin", "record 1", "coarse label 20") { () throws(ASTError) in
                _ = try loadCIFARBatches(paths: [bad], format: .cifar100)
            }
        }
    }

    @Test func rejectsBrokenBatches() throws {
        try withTempDirectory { dir in
            let cut = try writeFile(dir, "cut.bin", Array(record([1], seed: 8).dropLast()))
            expectASTError(.format, "cut.bin", "3072 bytes", "3073") { () throws(ASTError) in
                _ = try loadCIFARBatches(paths: [cut], format: .cifar10)
            }
            let empty = try writeFile(dir, "empty.bin", [])
            expectASTError(.format, "empty.bin") { () throws(ASTError) in
                _ = try loadCIFARBatches(paths: [empty], format: .cifar10)
            }
            let label = try writeFile(dir, "label.bin", record([1], seed: 9) + record([10], seed: 9))
            expectASTError(.format, "label.bin", "record 1", "label 10") { () throws(ASTError) in
                _ = try loadCIFARBatches(paths: [label], format: .cifar10)
            }
            // A CIFAR-100 file read as CIFAR-10 does not divide into records.
            let hundred = try writeFile(dir, "c100.bin", record([1, 2], seed: 10))
            expectASTError(.format, "CIFAR-10 records") { () throws(ASTError) in
                _ = try loadCIFARBatches(paths: [hundred], format: .cifar10)
            }
            expectASTError(.invalidArgument, "paths is empty") { () throws(ASTError) in
                _ = try loadCIFARBatches(paths: [], format: .cifar10)
            }
        }
    }

    @Test func directoryLoadersAcceptTheOfficialLayout() throws {
        try withTempDirectory { dir in
            expectASTError(.io, "CIFAR-10", "data_batch_1.bin", "test_batch.bin") { () throws(ASTError) in
                _ = try loadCIFAR10(directory: dir)
            }
            let sub = dir + "/cifar-10-batches-bin"
            #expect(mkdirPath(sub))
            for i in 1...5 { try writeFile(sub, "data_batch_\(i).bin", record([UInt8(i)], seed: UInt64(i))) }
            try writeFile(sub, "test_batch.bin", record([7], seed: 70))
            let pair = try loadCIFAR10(directory: dir)
            #expect(pair.train.labels == [1, 2, 3, 4, 5] && pair.test.labels == [7])
            #expect(try loadCIFAR10(directory: sub) == pair)

            try writeFile(dir, "train.bin", record([0, 5], seed: 1) + record([1, 6], seed: 2))
            expectASTError(.io, "CIFAR-100", "test.bin") { () throws(ASTError) in _ = try loadCIFAR100(directory: dir) }
            try writeFile(dir, "test.bin", record([2, 7], seed: 3))
            let hundred = try loadCIFAR100(directory: dir)
            #expect(hundred.train.labels == [5, 6] && hundred.test.labels == [7] && hundred.train.classes == 100)
        }
    }
}
