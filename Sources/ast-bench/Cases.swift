// The workloads of `scripts/bench-vs-pytorch.sh`, one per process (`ast-bench --case NAME`), so
// the script can interleave them with `scripts/bench_pytorch.py --case NAME`, which does the
// same work in PyTorch. Each case prints one line `RESULT <case> <seconds> <images per second>
// <peak RSS MiB>` (seconds of one unit of work: a step, an iteration, an epoch, a whole
// evaluation training; the peak resident memory of the process).
import ASTCore
import ASTData
import ASTDistill
#if canImport(Glibc)
import Glibc
#endif

/// The cases, with what one unit of work is (the same table is in bench_pytorch.py).
let comparisonCases: [(name: String, what: String)] = [
    ("sgemm", "sgemm 2048x2048x2048 split over the workers (GFLOP/s)"),
    ("train-step", "training step, ConvNet-3 w128, 3x32x32, batch 256, SGD"),
    ("mtt-ipc1", "MTT iteration, 3x32x32 w128, ipc 1 (batch 10, N 50)"),
    ("mtt-ipc1-kept", "MTT iteration, ipc 1 as above, every step graph kept (activation budget 2048 MiB)"),
    ("mtt-ipc10", "MTT iteration, 3x32x32 w128, ipc 10 (batch 100, N 30)"),
    ("ast-ipc1", "AST iteration (momentum 0.9, intermediate target, DSA), ipc 1 (batch 10, N 50)"),
    ("ast-ipc10", "AST iteration (momentum 0.9, intermediate target, DSA), ipc 10 (batch 100, N 30)"),
    ("expert-mtt", "MTT expert epoch, Fashion-MNIST 1x28x28 w128, 2560 images, batch 256, DSA"),
    ("expert-ast", "AST expert epoch (+ gradient penalty), Fashion-MNIST w128, 2560 images, batch 256, DSA"),
    ("eval-10", "evaluation training, 300 epochs on 10 images 3x32x32 w128, DSA"),
    ("eval-100", "evaluation training, 300 epochs on 100 images 3x32x32 w128, DSA")
]

/// Seconds of one distillation iteration: at ipc 1 the median of 5 calls after a warm-up (up to
/// two repetitions disturbed by other load do not move it; a median of 2 would be their mean), at
/// ipc 10 one call. scripts/bench_pytorch.py times the PyTorch side the same way.
private func iterationSeconds(ipc: Int, _ body: () throws -> Void) rethrows -> Double {
    try medianSeconds(warmup: ipc == 1 ? 1 : 0, reps: ipc == 1 ? 5 : 1, body)
}

/// Seconds of one call of `body` after `warmup` untimed calls: the median of `reps` calls.
private func medianSeconds(warmup: Int, reps: Int, _ body: () throws -> Void) rethrows -> Double {
    for _ in 0..<warmup { try body() }
    var times: [Double] = []
    for _ in 0..<reps {
        let start = now()
        try body()
        times.append(now() - start)
    }
    times.sort()
    return times.count % 2 == 1 ? times[times.count / 2] : (times[times.count / 2 - 1] + times[times.count / 2]) / 2
}

private func normals(_ n: Int, seed: UInt64) -> [Float] {
    var rng = SeededGenerator(seed: seed)
    return (0..<n).map { _ in Float(rng.nextNormal()) }
}

private func report(_ name: String, seconds: Double, images: Int) {
    print("RESULT \(name) \(seconds) \(Double(images) / seconds) \(peakRSSMiB())")
}

/// MTT's minibatch order: chunks of permutations of the n images, popped from the end.
private func minibatches(n: Int, batch: Int, steps: Int, seed: UInt64) -> [[Int]] {
    var rng = SeededGenerator(seed: seed)
    var chunks: [[Int]] = [], out: [[Int]] = []
    while out.count < steps {
        if chunks.isEmpty {
            let perm = rng.permutation(n)
            chunks = stride(from: 0, to: n, by: batch).map { Array(perm[$0..<min(n, $0 + batch)]) }
        }
        out.append(chunks.removeLast())
    }
    return out
}

/// c = a·b for n×n matrices, split over libast's workers (the sgemm rate both benchmarks print).
func splitSquareGemm(_ a: [Float], _ b: [Float], _ c: inout [Float], n: Int) {
    a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            c.withUnsafeMutableBufferPointer { pc in
                parallelGemm(
                    transA: false, transB: false, m: n, n: n, k: n, alpha: 1, a: pa.baseAddress!, lda: n,
                    b: pb.baseAddress!, ldb: n, beta: 0, c: pc.baseAddress!, ldc: n)
            }
        }
    }
}

func runComparisonCase(_ name: String) throws {
    let cifar = try ConvNet(ConvNetConfig(channels: 3, imageSize: 32, classes: 10, width: 128, depth: 3))
    switch name {
    case "info":
        print("OpenBLAS \(BLAS.configuration), kernels for core \(BLAS.coreName), \(BLAS.threadCount) libast workers")
    case "sgemm":
        let n = 2048
        let a = normals(n * n, seed: 1), b = normals(n * n, seed: 2)
        var c = [Float](repeating: 0, count: n * n)
        let t = medianSeconds(warmup: 1, reps: 5) { splitSquareGemm(a, b, &c, n: n) }
        print("RESULT sgemm \(t) \(2 * Double(n * n * n) / t / 1e9) \(peakRSSMiB())")

    case "train-step":
        let batch = 256
        let x = try Tensor<Float>(shape: [batch, 3, 32, 32], scalars: normals(batch * 3 * 32 * 32, seed: 3))
        let labels = (0..<batch).map { Int32($0 % 10) }
        var theta = cifar.initialParameters(seed: 0)
        let t = try medianSeconds(warmup: 1, reps: 5) {
            let th = try Tensor<Float>(shape: [cifar.parameterCount], scalars: theta).variable()
            let loss = try cifar.forward(x, parameters: th).crossEntropy(labels: labels)
            let g = try gradients(of: loss, wrt: [th])[0].scalars
            for i in 0..<theta.count { theta[i] -= 0.01 * g[i] }
        }
        report(name, seconds: t, images: batch)

    case "mtt-ipc1", "mtt-ipc1-kept", "mtt-ipc10":
        // The matching meta-gradient of one outer iteration (unroll, loss, dL/dimages, dL/dα) at
        // the distiller's default activation budget (mtt-ipc1-kept: 2048 MiB, which keeps all 50
        // step graphs as PyTorch's autograd does), no augmentation. (The PyTorch side also
        // applies its SGD update to the 10 or 100 images and α: negligible work.)
        let ipc = name == "mtt-ipc10" ? 10 : 1
        let (n, steps) = (10 * ipc, ipc == 1 ? 50 : 30)
        let images = try Tensor<Float>(shape: [n, 3, 32, 32], scalars: normals(n * 3 * 32 * 32, seed: 5))
        let labels = (0..<n).map { Int32($0 / ipc) }
        let start = try Tensor<Float>(shape: [cifar.parameterCount], scalars: cifar.initialParameters(seed: 1))
        let target = try start.adding(
            Tensor<Float>(
                shape: [cifar.parameterCount], scalars: normals(cifar.parameterCount, seed: 6).map { $0 * 0.01 }))
        var matching = TrajectoryMatching<Float>(
            network: cifar, labels: labels, learningRate: 0.01,
            minibatches: minibatches(n: n, batch: n, steps: steps, seed: 9))
        matching.activationBudget = (name == "mtt-ipc1-kept" ? 2048 : DistillationSettings().activationBudgetMiB) << 20
        let t = try iterationSeconds(ipc: ipc) {
            _ = try matching.run(images: images, start: start, target: target)
        }
        report(name, seconds: t, images: n * steps)

    case "ast-ipc1", "ast-ipc10":
        // One outer iteration of the distiller with every AST component of the iteration on
        // (momentum 0.9 inner loop, balanced inner loss, intermediate target at N/2, weight
        // perturbation, DSA), default activation budget; experts are random walks.
        let ipc = name == "ast-ipc1" ? 1 : 10
        var settings = DistillationSettings.ast(ipc: ipc)
        settings.maxStartEpoch = 2
        let p = cifar.parameterCount
        var walk = [cifar.initialParameters(seed: 1)]
        for e in 1...3 { walk.append(zip(walk[e - 1], normals(p, seed: UInt64(20 + e))).map { $0 + 0.01 * $1 }) }
        let distiller = try Distiller(network: cifar, settings: settings, experts: InMemoryExperts([walk]))
        let n = 10 * ipc
        let synthetic = try ImageDataset(
            images: normals(n * 3 * 32 * 32, seed: 7), labels: (0..<n).map { Int32($0 / ipc) },
            count: n, channels: 3, height: 32, width: 32, classes: 10)
        var state = try distiller.initialState(from: synthetic)
        let t = try iterationSeconds(ipc: ipc) {
            _ = try distiller.step(&state)
        }
        report(name, seconds: t, images: n * settings.syntheticSteps)

    case "expert-mtt", "expert-ast":
        let pair = try loadFashionMNIST()
        let subset = try pair.train.subset(Array(0..<2560))
        let fmnist = try ConvNet(ConvNetConfig(channels: 1, imageSize: 28, classes: 10, width: 128, depth: 3))
        let kind: ExpertKind = name == "expert-mtt" ? .mtt : .ast
        let settings = TrainingSettings.expert(kind, epochs: 50, augmentation: try DSA())
        let trainer = try NetworkTrainer(network: fmnist, settings: settings, data: subset)
        // Warm-up: one batch.
        let warm = try NetworkTrainer(network: fmnist, settings: settings, data: try pair.train.subset(Array(0..<256)))
        var state = TrainerState(parameters: fmnist.initialParameters(seed: 1))
        _ = try warm.runEpoch(&state, seed: 2)
        state = TrainerState(parameters: fmnist.initialParameters(seed: 1))
        let t = try medianSeconds(warmup: 0, reps: 1) { _ = try trainer.runEpoch(&state, seed: 3) }
        report(name, seconds: t, images: 2560)

    case "eval-10", "eval-100":
        let n = name == "eval-10" ? 10 : 100
        let data = try ImageDataset(
            images: normals(n * 3 * 32 * 32, seed: 8), labels: (0..<n).map { Int32($0 % 10) },
            count: n, channels: 3, height: 32, width: 32, classes: 10)
        let settings = TrainingSettings.evaluation(epochs: 300, learningRate: 0.01, augmentation: try DSA())
        let trainer = try NetworkTrainer(network: cifar, settings: settings, data: data)
        let t = try medianSeconds(warmup: 0, reps: 1) {
            var state = TrainerState(parameters: cifar.initialParameters(seed: 1))
            while state.epoch < 300 { _ = try trainer.runEpoch(&state, seed: 4) }
        }
        report(name, seconds: t, images: n * 300)

    default:
        let known = comparisonCases.map(\.name).joined(separator: ", ")
        print("ast-bench: unknown case \"\(name)\" (known: \(known))")
        exit(2)
    }
}
