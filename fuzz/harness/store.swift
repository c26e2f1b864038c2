// fuzz target: reading a trajectory store and a distillation checkpoint written by someone else
// (TrajectoryStore(readingFrom:), progress(of:), snapshots, testAccuracies, Pipeline.loadCheckpoint):
// the input is the store's only expert file and, separately, the checkpoint.
//
// Seeds: `LIBAST_FUZZ_WRITE_SEEDS=DIR store-fuzzer` writes a real expert file and checkpoint of the
// harness's tiny configuration to DIR and exits (see fuzz/run.sh --seeds).
#if canImport(Glibc)
import Glibc
#endif
import ASTCore
import ASTData
import ASTDistill

/// The tiny world the seeds are made in: 3 classes of 8x8 images, a width-4 depth-2 ConvNet.
private func tinyConfig() -> RunConfiguration {
    var c = RunConfiguration()
    c.network = ConvNetConfig(channels: 1, imageSize: 8, classes: 3, width: 4, depth: 2)
    (c.expertCount, c.expertEpochs, c.expertBatch, c.expertAugmentation) = (1, 2, 8, "none")
    var d = DistillationSettings.ast(ipc: 1)
    (d.syntheticSteps, d.expertEpochs, d.maxStartEpoch, d.iterations, d.syntheticBatch) = (2, 1, 1, 2, 3)
    d.augmentation = "none"
    c.distillation = d
    c.checkpointEvery = 1
    return c
}

private func tinyData() throws(ASTError) -> PreparedData {
    var rng = SplitMix(seed: 7)
    func set(_ perClass: Int) throws(ASTError) -> ImageDataset {
        let n = 3 * perClass
        let images = (0..<(n * 64)).map { _ in Float(rng.next() % 256) / 255 }
        return try ImageDataset(
            images: images, labels: (0..<n).map { Int32($0 % 3) }, count: n, channels: 1,
            height: 8, width: 8, classes: 3)
    }
    return try PreparedData(DatasetPair(train: set(6), test: set(3)), preprocessing: .normalize)
}

private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

private let config = tinyConfig()
private let network = try! ConvNet(config.network)
private let root = scratchDirectory("store")
nonisolated(unsafe) private let pipeline = try! Pipeline(config: config, outputDirectory: root)
private let expertPath = root + "/experts/expert_00000.safetensors"

@_cdecl("LLVMFuzzerInitialize")
public func initialize(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>
) -> Int32 {
    if let out = getenv("LIBAST_FUZZ_WRITE_SEEDS").map({ String(cString: $0) }) {
        do throws(ASTError) {
            let dir = scratchDirectory("seeds")
            let p = try Pipeline(config: config, outputDirectory: dir)
            let data = try tinyData()
            _ = try p.generateExperts(data: data)
            _ = try p.distill(data: data)
            writeScratch(out + "/expert.safetensors", try BinaryFile.read(dir + "/experts/expert_00000.safetensors"))
            writeScratch(out + "/checkpoint.safetensors", try BinaryFile.read(dir + "/checkpoint.safetensors"))
            print("wrote \(out)/expert.safetensors and \(out)/checkpoint.safetensors")
            exit(0)
        } catch {
            print("seed generation failed: \(error.message)")
            exit(1)
        }
    }
    try! makeDirectoryForFuzzing(root + "/experts")
    return 0
}

private func makeDirectoryForFuzzing(_ path: String) throws {
    if mkdir(path, 0o755) != 0 && errno != EEXIST { fatalError("cannot create \(path)") }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzStore(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = inputBytes(data, size)
    // As the store's one complete expert.
    writeScratch(expertPath, bytes)
    if let store = try? TrajectoryStore(readingFrom: root + "/experts", network: network) {
        if let snapshots = try? store.snapshots(expert: 0, epochs: Array(0..<store.snapshotCount)) {
            precondition(snapshots.allSatisfy { $0.count == network.parameterCount })
        }
        _ = try? store.snapshots(expert: 0, epochs: [store.snapshotCount])
        blackHole(try? store.testAccuracies())
        if let progress = try? store.progress(of: 0, totalEpochs: store.snapshotCount - 1) {
            precondition(progress.snapshots.count == progress.testAccuracies.count + 1)
        }
    }
    // As the distillation checkpoint.
    writeScratch(pipeline.checkpointPath, bytes)
    if let state = try? pipeline.loadCheckpoint() {
        precondition(state.images.count == state.labels.count * network.imageElementCount)
    }
    return 0
}
