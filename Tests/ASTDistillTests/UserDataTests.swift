import Testing
@testable import ASTCore
@testable import ASTDistill
@testable import ASTData

/// The user's own data (data.dataset=npz), a shared store (experts.dir), resuming under changed
/// settings, and the labelled PNG of a run.
@Suite struct UserData {
    /// Raising distill.iterations continues the checkpoint; any other change names the setting.
    @Test func resumeContinuesWithMoreIterationsAndNamesAChangedSetting() throws {
        var (c, data) = try tinyRun()
        let dir = temporaryDirectory("resume-more")
        c.distillation.iterations = 2
        let first = try Pipeline(config: c, outputDirectory: dir)
        try first.generateExperts(data: data)
        #expect(try first.distill(data: data).iteration == 2)
        c.distillation.iterations = 4
        c.evaluation.epochs = 7  // evaluation settings do not touch the checkpoint
        var messages: [String] = []
        let more = try Pipeline(config: c, outputDirectory: dir).distill(data: data) { event in
            if case .message(let m) = event { messages.append(m) }
            return true
        }
        #expect(more.iteration == 4 && more.lossHistory.count == 4)
        #expect(messages.contains("resuming distillation after iteration 2"))
        c.distillation.imageLearningRate = 20
        let outcome = Result { () throws(ASTError) in try Pipeline(config: c, outputDirectory: dir).distill(data: data)
        }
        guard case .failure(let error) = outcome else { Issue.record("changed settings resumed"); return }
        #expect(error.message.contains("distill.lr_img = 10") && error.message.contains("this run has 20"), "\(error)")
    }

    /// experts.dir: a second run uses the first run's store without training or copying it; a
    /// run for another network is refused naming the setting.
    @Test func aSharedStoreIsUsedAsItIs() throws {
        var (c, data) = try tinyRun()
        let a = temporaryDirectory("shared-a"), b = temporaryDirectory("shared-b")
        try Pipeline(config: c, outputDirectory: a).generateExperts(data: data)
        c.expertsDirectory = a + "/experts"
        var trained = 0
        let shared = try Pipeline(config: c, outputDirectory: b)
        let store = try shared.generateExperts(data: data) { event in
            if case .expertEpoch = event { trained += 1 }
            return true
        }
        #expect(trained == 0 && store.expertCount == 2 && !BinaryFile.exists(b + "/experts"))
        #expect(try shared.distill(data: data).iteration == 5)
        c.network.width = 6
        let outcome = Result { () throws(ASTError) in
            try Pipeline(config: c, outputDirectory: b + "-w").distill(data: data)
        }
        guard case .failure(let error) = outcome else { Issue.record("another network's store opened"); return }
        #expect(error.message.contains("network.width is 4 there, 6 in this run"), "\(error)")
    }

    /// An .npz of the user's images (N×H×W uint8, Keras's names) loads, checked against the network.
    @Test func npzDatasetLoadsAndIsChecked() throws {
        let dir = temporaryDirectory("npz")
        let train = try tinyData(perClass: 6, seed: 1), test = try tinyData(perClass: 2, seed: 2)
        func pixels(_ d: ImageDataset) throws(ASTError) -> NDArray {
            try NDArray(
                shape: [d.count, d.height, d.width], uint8: d.images.map { UInt8(max(0, min(255, ($0 + 3) * 40))) })
        }
        let path = dir + "/mine.npz"
        try NPZWriter.write(
            [
                ("x_train", try pixels(train)),
                ("y_train", try NDArray(shape: [train.count], int64: train.labels.map(Int64.init))),
                ("x_test", try pixels(test)),
                ("y_test", try NDArray(shape: [test.count], int64: test.labels.map(Int64.init)))
            ],
            path: path)
        let pair = try loadNPZDataset(path: path)
        #expect(pair.train.count == train.count && pair.train.classes == 3 && pair.train.channels == 1)
        #expect(pair.train.images.allSatisfy { (0...1).contains($0) })
        var (c, _) = try tinyRun()
        c.dataset = .npz
        c.dataPath = path
        #expect(try Pipeline(config: c, outputDirectory: dir + "/run").loadData().data.train.count == train.count)
        c.network.classes = 10
        let outcome = Result { () throws(ASTError) in try Pipeline(config: c, outputDirectory: dir + "/run").loadData()
        }
        guard case .failure(let error) = outcome else { Issue.record("10 classes accepted"); return }
        #expect(error.message.contains("set network.classes=3"), "\(error)")
        c.dataPath = ""
        #expect(throws: ASTError.self) { try c.validate() }
    }

    /// Unknown settings suggest the closest names.
    @Test func unknownSettingsSuggestNames() {
        var c = RunConfiguration()
        let outcome = Result { () throws(ASTError) in try c.set("distill.ipcc", text: "3") }
        guard case .failure(let error) = outcome else { Issue.record("unknown setting accepted"); return }
        #expect(error.message.contains("did you mean 'distill.ipc'"), "\(error)")
        #expect(closestNames(to: "ipc", among: RunConfiguration.parameters.map(\.name)) == ["distill.ipc"])
        #expect(closestNames(to: "experts_dir", among: RunConfiguration.parameters.map(\.name)).first == "experts.dir")
    }
}

@Suite struct LabelledGrid {
    /// Cells are the plain grid upscaled (nearest); labels and the legend are drawn in white.
    @Test func gridIsUpscaledAndLabelled() throws {
        let images: [Float] = (0..<(2 * 4 * 4)).map { Float($0 % 7) }
        let plain = try imageGrid(
            images: images, count: 2, channels: 1, height: 4, width: 4, rows: 2, columns: 1, padding: 1)
        for scale in [1, 2, 5] {
            let g = try labelledImageGrid(
                images: images, count: 2, channels: 1, height: 4, width: 4, rows: 2, columns: 1,
                rowLabels: ["0 CAT", "1 DOG"], scale: scale)
            let labelWidth = 5 * 4 + 4, legend = 5 + 4  // text scale 1: "0 CAT" is 5 glyphs of 4 pixels
            #expect(g.width == labelWidth + plain.width * scale && g.height == legend + plain.height * scale)
            for y in 0..<(plain.height * scale) {
                for x in 0..<(plain.width * scale) {
                    let cell = g.pixels[(legend + y) * g.width + labelWidth + x]
                    if cell != plain.pixels[(y / scale) * plain.width + x / scale] {
                        Issue.record("pixel \(x),\(y) at scale \(scale)"); return
                    }
                }
            }
            // "C" of "CLASS" at the margin: its first row is 011.
            #expect(
                g.pixels[2 * g.width + 2] == 0 && g.pixels[2 * g.width + 3] == 255 && g.pixels[2 * g.width + 4] == 255)
        }
        #expect(bitmapGlyph("A") == [2, 5, 7, 5, 5])
        #expect(bitmapGlyph("é") == bitmapGlyph("?"))
        #expect(throws: ASTError.self) {
            try labelledImageGrid(
                images: images, count: 2, channels: 1, height: 4, width: 4, rows: 2, columns: 1, rowLabels: ["x"],
                scale: 1)
        }
        #expect(throws: ASTError.self) {
            try labelledImageGrid(
                images: images, count: 2, channels: 1, height: 4, width: 4, rows: 2, columns: 1, rowLabels: ["a", "b"],
                scale: 0)
        }
    }
}
