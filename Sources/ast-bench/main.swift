// ast-bench: prints the engine's throughput on this machine (a program, not a test).
//   swift run -c release ast-bench [--quick]
//   ast-bench --case NAME: one workload of scripts/bench-vs-pytorch.sh (see Cases.swift)
import ASTCore
import ASTData
import ASTDistill
#if canImport(Glibc)
import Glibc
#endif

func now() -> Double { monotonicSeconds() }

/// Best wall time of `rounds` runs of `body` after one warm-up (with `--once`: the time of one
/// cold run).
func best(_ rounds: Int, _ body: () throws -> Void) rethrows -> Double {
    if CommandLine.arguments.contains("--once") {
        let start = now()
        try body()
        return now() - start
    }
    try body()
    var t = Double.infinity
    for _ in 0..<rounds {
        let start = now()
        try body()
        t = min(t, now() - start)
    }
    return t
}

func peakRSSMiB() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}

if let i = CommandLine.arguments.firstIndex(of: "--case") {
    guard i + 1 < CommandLine.arguments.count else { print("ast-bench: --case needs a name"); exit(2) }
    try runComparisonCase(CommandLine.arguments[i + 1])
    exit(0)
}

let quick = CommandLine.arguments.contains("--quick")
let onlyMTT = CommandLine.arguments.contains("--mtt-only") || CommandLine.arguments.contains("--experts-only")
let onlyExperts = CommandLine.arguments.contains("--experts-only")
/// --pool-mib N: cap on the buffer pool's cached memory (default 256).
if let i = CommandLine.arguments.firstIndex(of: "--pool-mib"), i + 1 < CommandLine.arguments.count,
    let mib = Int(CommandLine.arguments[i + 1])
{
    BufferPool.limitBytes = mib << 20
}
/// --keep-mib N: activation budget of the MTT iterations (step graphs kept instead of
/// recomputed); default the distiller's (`distill.activation_mib`).
let keepBytes: Int =
    CommandLine.arguments.firstIndex(of: "--keep-mib").flatMap { i in
        i + 1 < CommandLine.arguments.count ? Int(CommandLine.arguments[i + 1]).map { $0 << 20 } : nil
    } ?? DistillationSettings().activationBudgetMiB << 20
/// --mtt ipc,batch,steps (repeatable): MTT iterations to time (default 10,100,10).
var mttShapes: [(Int, Int, Int)] = []
for (i, a) in CommandLine.arguments.enumerated() where a == "--mtt" && i + 1 < CommandLine.arguments.count {
    let v = CommandLine.arguments[i + 1].split(separator: ",").compactMap { Int($0) }
    if v.count == 3 { mttShapes.append((v[0], v[1], v[2])) }
}
if mttShapes.isEmpty { mttShapes = [(10, 100, 10)] }
let rounds = quick ? 1 : 3
func randomArray(_ n: Int, seed: UInt64 = 1) -> [Float] {
    var rng = SeededGenerator(seed: seed)
    return (0..<n).map { _ in Float(rng.nextNormal()) }
}
print(
    "OpenBLAS \(BLAS.configuration), core \(BLAS.coreName); libast runs \(BLAS.threadCount) threads (OpenBLAS one per "
        + "worker)"
)

// sgemm
for n in onlyMTT ? [] : [512, 1024, 2048] {
    let a = randomArray(n * n), b = randomArray(n * n)
    var c = [Float](repeating: 0, count: n * n)
    let flops = 2 * Double(n * n * n)
    let single = best(rounds) {
        Float.gemm(
            transA: false, transB: false, m: n, n: n, k: n, alpha: 1, a: a, lda: n, b: b, ldb: n, beta: 0, c: &c, ldc: n
        )
    }
    let split = best(rounds) { splitSquareGemm(a, b, &c, n: n) }
    print(
        "sgemm \(n)x\(n)x\(n): \(String(format2: flops / single / 1e9)) GFLOP/s on one thread, "
            + "\(String(format2: flops / split / 1e9)) split over \(BLAS.threadCount)"
    )
}

// Convolutions at ConvNet-3 sizes: batch 256, width 128.
let batch = quick ? 64 : 256
let config = ConvNetConfig(channels: 3, imageSize: 32, classes: 10, width: 128, depth: 3)
let net = try ConvNet(config)
for (cin, size) in onlyMTT ? [] : [(3, 32), (128, 16), (128, 8)] {
    let x = try Tensor<Float>(shape: [batch, cin, size, size], scalars: randomArray(batch * cin * size * size))
        .variable()
    let w = try Tensor<Float>(shape: [128, cin, 3, 3], scalars: randomArray(128 * cin * 9)).variable()
    let flops = 2.0 * Double(batch * 128 * size * size * cin * 9)
    var y: Tensor<Float>? = nil
    let tf = try best(rounds) { y = try x.conv2d(weight: w, padding: 1) }
    let seed = try Tensor<Float>(shape: y!.shape, scalars: randomArray(y!.count))
    let tb = try best(rounds) { _ = try gradients(of: y!, wrt: [x, w], seed: seed) }
    print(
        "conv \(cin)->128 @\(size)x\(size), batch \(batch): forward \(String(format2: flops / tf / 1e9)) GFLOP/s, "
            + "backward (input+weight) \(String(format2: 2 * flops / tb / 1e9)) GFLOP/s"
    )
}

// One training step: forward + backward + SGD at batch 256.
if !onlyMTT {
    let x = try Tensor<Float>(shape: [batch, 3, 32, 32], scalars: randomArray(batch * 3 * 32 * 32))
    let labels = (0..<batch).map { Int32($0 % 10) }
    var theta = net.initialParameters(seed: 0)
    let step = try best(rounds) {
        let th = try Tensor<Float>(shape: [net.parameterCount], scalars: theta).variable()
        let loss = try net.forward(x, parameters: th).crossEntropy(labels: labels)
        let g = try gradients(of: loss, wrt: [th])[0].scalars
        for i in 0..<theta.count { theta[i] -= 0.01 * g[i] }
    }
    print(
        "training step, batch \(batch) (forward+backward+SGD): \(String(format2: step * 1000)) ms = "
            + "\(String(format2: Double(batch) / step)) img/s"
    )
    print("peak RSS \(String(format2: peakRSSMiB())) MiB")
}

// One MTT iteration (constant-memory meta-gradient), 3x32x32, width 128: ipc 10 (batch 100, N 10).
func mttIteration(ipc: Int, batchSyn: Int, steps: Int) throws {
    let n = ipc * 10
    let images = try Tensor<Float>(shape: [n, 3, 32, 32], scalars: randomArray(n * 3 * 32 * 32, seed: 5))
    let labels = (0..<n).map { Int32($0 / ipc) }
    let start = try Tensor<Float>(shape: [net.parameterCount], scalars: net.initialParameters(seed: 1))
    let target = try start.adding(
        Tensor<Float>(shape: [net.parameterCount], scalars: randomArray(net.parameterCount, seed: 6).map { $0 * 0.01 }))
    var rng = SeededGenerator(seed: 9)
    var batches: [[Int]] = []
    while batches.count < steps {
        let perm = rng.permutation(n)
        for c in stride(from: 0, to: n, by: batchSyn) where batches.count < steps {
            batches.append(Array(perm[c..<min(n, c + batchSyn)]))
        }
    }
    var matching = TrajectoryMatching<Float>(network: net, labels: labels, learningRate: 0.01, minibatches: batches)
    matching.activationBudget = keepBytes
    var loss: Float = 0, kept = 0
    let t = try best(quick ? 1 : 2) {
        let r = try matching.run(images: images, start: start, target: target)
        (loss, kept) = (r.loss, r.keptStepGraphs)
    }
    print(
        "MTT iteration ipc \(ipc), batch \(batchSyn), N \(steps), activation budget \(keepBytes >> 20) MiB (\(kept) "
            + "step graphs kept): \(String(format2: t)) s (loss \(loss)), peak RSS \(String(format2: peakRSSMiB())) MiB"
    )
}
// Expert training throughput on Fashion-MNIST (1x28x28, first conv padded by 3), ConvNet-3
// width 128, batch 256, DSA: MTT experts (plain SGD) and AST experts (+ gradient penalty).
func expertThroughput() throws {
    let pair = try loadFashionMNIST()
    let images = quick ? 512 : 2560
    let subset = try pair.train.subset(Array(0..<images))
    let fmnist = try ConvNet(ConvNetConfig(channels: 1, imageSize: 28, classes: 10, width: 128, depth: 3))
    for kind in ExpertKind.allCases {
        let settings = TrainingSettings.expert(kind, epochs: 1, augmentation: try DSA())
        let trainer = try NetworkTrainer(network: fmnist, settings: settings, data: subset)
        var state = TrainerState(parameters: fmnist.initialParameters(seed: 1))
        let t = try best(quick ? 1 : 2) {
            state.epoch = 0
            _ = try trainer.runEpoch(&state, seed: 3)
        }
        print(
            "expert epoch, Fashion-MNIST, \(kind.rawValue.uppercased()) expert, width 128, batch 256, DSA: "
                + "\(String(format2: Double(images) / t)) img/s"
        )
    }
}
if CommandLine.arguments.contains("--experts") || onlyExperts { try expertThroughput() }

for (ipc, batch, steps) in onlyExperts ? [] : mttShapes {
    try mttIteration(ipc: ipc, batchSyn: batch, steps: quick ? 2 : steps)
}

extension String {
    init(format2 value: Double) {
        let scaled = (value * 100).rounded() / 100
        self = "\(scaled)"
    }
}
