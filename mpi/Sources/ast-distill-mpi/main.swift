// ast-distill-mpi: `ast-distill experts` and `ast-distill distill` spread over MPI ranks.
//
//   mpirun -np P ast-distill-mpi experts --preset fashion-ipc10 --out out/f10
//   mpirun -np P ast-distill-mpi distill --preset fashion-ipc10 --set distill.segments=8 --out out/f10
//
// experts: rank q trains the experts i with i % P == q into the one store (resumes like
// ast-distill). distill: each iteration's R = distill.segments segments are spread over the
// ranks (segment r on rank r % P); the flattened gradients are gathered on every rank
// (MPI_Allgatherv) and summed in segment order 0..R-1, so every rank applies the identical
// update and the result equals `ast-distill distill` with the same settings in one process,
// byte for byte, for any P. Rank 0 alone writes checkpoints and outputs; a rerun resumes from
// the checkpoint. Settings are fingerprinted and compared across ranks before any work; a
// rank that fails aborts the whole job (MPI_Abort: non-zero exit, no hang).

import ASTCore
import ASTData
import ASTDistill
import CMPI
#if canImport(Glibc)
import Glibc
#endif

nonisolated(unsafe) let world = ast_mpi_comm_world()

struct Failure: Error {
    let message: String
}

// MARK: - MPI helpers

// Set once by main() after MPI_Init, read-only afterwards.
nonisolated(unsafe) var rank: Int32 = 0
nonisolated(unsafe) var ranks: Int32 = 1

/// One whole line to a file descriptor (unbuffered: lines of several ranks do not interleave).
func writeLine(_ fd: Int32, _ line: String) {
    var bytes = Array((line + "\n").utf8)
    var at = 0
    while at < bytes.count {
        let n = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress! + at, $0.count - at) }
        if n <= 0 { return }
        at += n
    }
}

func say(_ text: String) {
    writeLine(1, "ast-distill-mpi: \(text)")
}

func sayError(_ text: String) {
    writeLine(2, "ast-distill-mpi: rank \(rank) of \(ranks): error: \(text)")
}

/// Every rank's value of `value`, in rank order.
func allGather(_ value: UInt64) -> [UInt64] {
    var mine = value
    var all = [UInt64](repeating: 0, count: Int(ranks))
    _ = all.withUnsafeMutableBufferPointer { out in
        MPI_Allgather(&mine, 1, ast_mpi_uint64(), out.baseAddress, 1, ast_mpi_uint64(), world)
    }
    return all
}

/// Collective: true on every rank when `ok` is true on every rank. A failing rank prints its
/// own message; the others say which ranks failed, so every rank reports the error.
func everyRankSucceeded(_ ok: Bool, _ what: String) -> Bool {
    let flags = allGather(ok ? 0 : 1)
    let failed = flags.indices.filter { flags[$0] != 0 }
    if failed.isEmpty { return true }
    if ok {
        sayError(
            "\(what) failed on rank\(failed.count == 1 ? "" : "s") \(failed.map(String.init).joined(separator: ", "))")
    }
    return false
}

/// Runs `body` on every rank; nil (after every rank reported) when it failed anywhere.
func collectively<T>(_ what: String, _ body: () throws -> T) -> T? {
    var result: T? = nil
    do {
        result = try body()
    } catch let e as ASTError {
        sayError(e.message)
    } catch let e as Failure {
        sayError(e.message)
    } catch {
        sayError("\(error)")
    }
    return everyRankSucceeded(result != nil, what) ? result : nil
}

/// A failure in the middle of collective work: the whole job stops (non-zero exit everywhere).
func abortJob(_ text: String) -> Never {
    sayError(text + " (aborting the job; rerun to resume)")
    MPI_Abort(world, 1)
    exit(1)
}

func fnv1a(_ bytes: some Sequence<UInt8>, _ seed: UInt64 = 0xcbf2_9ce4_8422_2325) -> UInt64 {
    var h = seed
    for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
    return h
}

// MARK: - Command line

struct Options {
    var command = ""
    var preset: String? = nil
    var configFile: String? = nil
    var overrides: [String] = []
    var out = "out"
}

let usage = """
    usage: ast-distill-mpi <experts|distill> [--preset NAME] [--config FILE.json] [--set name=value]... [--out DIR]
      run under mpirun -np P (or srun); settings as for ast-distill (`ast-distill settings`)
    """

func parseOptions(_ arguments: [String]) throws -> Options {
    var o = Options()
    var rest = arguments[...]
    guard let command = rest.popFirst(), ["experts", "distill"].contains(command) else {
        throw Failure(message: "expected the command experts or distill\n\(usage)")
    }
    o.command = command
    while let flag = rest.popFirst() {
        guard ["--preset", "--config", "--set", "--out", "-o"].contains(flag) else {
            throw Failure(message: "unknown argument '\(flag)'\n\(usage)")
        }
        guard let value = rest.popFirst() else { throw Failure(message: "\(flag) needs a value") }
        switch flag {
        case "--preset": o.preset = value
        case "--config": o.configFile = value
        case "--set": o.overrides.append(value)
        default: o.out = value
        }
    }
    return o
}

// MARK: - Steps

/// Holds an exclusive lock on <out>/.ast-distill-mpi.lock for the job's lifetime (rank 0), so
/// a second job on the same directory stops before writing. Released by the kernel when the
/// process ends, also when it is killed.
func lockOutputDirectory(_ out: String) throws -> Int32 {
    var prefix = out.hasPrefix("/") ? "" : "."
    for part in out.split(separator: "/") {
        prefix += "/" + part
        guard mkdir(prefix, 0o755) == 0 || errno == EEXIST else {
            throw Failure(message: "\(prefix): cannot create the directory: \(String(cString: strerror(errno)))")
        }
    }
    let path = out + "/.ast-distill-mpi.lock"
    let fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw Failure(message: "\(path): cannot open: \(String(cString: strerror(errno)))") }
    guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
        close(fd)
        throw Failure(
            message:
                "\(out) is in use by another ast-distill-mpi job (\(path) is locked); wait for it or use another --out")
    }
    return fd
}

func runExperts(_ pipeline: Pipeline, _ data: PreparedData) -> Int32 {
    let count = pipeline.config.expertCount
    let mine = Array(stride(from: Int(rank), to: count, by: Int(ranks)))
    do {
        for index in mine {
            try pipeline.generateExperts(data: data, range: index..<(index + 1)) { event in
                switch event {
                case .message(let m): say("rank \(rank): \(m)")
                case .expertEpoch(let e, let epoch, let epochs, let accuracy):
                    say(
                        "rank \(rank): expert \(e) epoch \(epoch)/\(epochs): test accuracy "
                            + "\(String(format2: accuracy * 100))%"
                    )
                default: break
                }
                return true
            }
        }
    } catch {
        abortJob(error.message)
    }
    MPI_Barrier(world)
    if rank == 0 {
        do {
            let store = try TrajectoryStore(
                readingFrom: pipeline.storeDirectory, network: pipeline.network, datasetFingerprint: data.fingerprint)
            say("\(store.expertCount) complete experts in \(store.directory) (\(count) trained over \(ranks) ranks)")
        } catch {
            abortJob(error.message)
        }
    }
    return 0
}

/// Digest of everything in a distillation state: every rank must start from the same one.
func stateDigest(_ s: DistillationState) -> UInt64 {
    var h = fnv1a([])
    func mix(_ v: some FixedWidthInteger) { withUnsafeBytes(of: v.littleEndian) { h = fnv1a($0, h) } }
    for x in s.images { mix(x.bitPattern) }
    for x in s.imageVelocity { mix(x.bitPattern) }
    mix(s.stepSize.bitPattern); mix(s.stepSizeVelocity.bitPattern); mix(s.iteration)
    for r in 0..<max(1, s.segmentPendingChunks.count + 1) {
        for chunk in s.pendingChunks(segment: r) { mix(chunk.count); for i in chunk { mix(i) } }
    }
    for x in s.lossHistory { mix(x.bitPattern) }
    for x in s.labelLogits ?? [] { mix(x.bitPattern) }
    return h
}

func runDistill(_ pipeline: Pipeline, _ data: PreparedData) -> Int32 {
    let config = pipeline.config
    let segments = config.distillation.segments
    let total = config.distillation.iterations
    guard
        let (distiller, start) = collectively(
            "preparing the distillation",
            {
                try pipeline.prepareDistillation(data: data, writer: rank == 0) { event in
                    if rank == 0, case .message(let m) = event { say(m) }
                    return true
                }
            })
    else { return 1 }
    var state = start
    let digests = allGather(stateDigest(state))
    guard digests.allSatisfy({ $0 == digests[0] }) else {
        sayError(
            "the ranks start from different states (checkpoint digests "
                + "\(digests.map { String($0, radix: 16) }.joined(separator: ", "))): is \(pipeline.checkpointPath) "
                + "on a file system all ranks share?"
        )
        return 1
    }
    let length = distiller.gradientLength(count: state.labels.count)
    // Segment r is computed by rank r % P, as the j = r / P-th of that rank's segments.
    let perRank = (0..<Int(ranks)).map { q in stride(from: q, to: segments, by: Int(ranks)).underestimatedCount }
    guard segments * length <= Int(Int32.max) else {
        sayError("distill.segments \(segments) x \(length) gradient values exceed one MPI message (2^31-1 floats)")
        return 1
    }
    let counts = perRank.map { Int32($0 * length) }
    var displacements = [Int32](repeating: 0, count: Int(ranks))
    for q in 1..<Int(ranks) { displacements[q] = displacements[q - 1] + counts[q - 1] }
    var gathered = [Float](repeating: 0, count: segments * length)
    var local = [Float](repeating: 0, count: perRank[Int(rank)] * length)
    if rank == 0 {
        say(
            "distilling: \(segments) segment\(segments == 1 ? "" : "s") per iteration over \(ranks) "
                + "rank\(ranks == 1 ? "" : "s"), iterations \(state.iteration)..<\(total)"
        )
    }
    let startTime = monotonicSeconds()
    let firstIteration = state.iteration
    while state.iteration < total {
        do {
            for (j, r) in stride(from: Int(rank), to: segments, by: Int(ranks)).enumerated() {
                let g = try distiller.segmentGradient(state, segment: r).flattened
                local.replaceSubrange((j * length)..<((j + 1) * length), with: g)
            }
        } catch {
            abortJob(error.message)
        }
        let status = local.withUnsafeBufferPointer { send in
            gathered.withUnsafeMutableBufferPointer { receive in
                counts.withUnsafeBufferPointer { c in
                    displacements.withUnsafeBufferPointer { d in
                        MPI_Allgatherv(
                            send.baseAddress, Int32(send.count), ast_mpi_float(), receive.baseAddress,
                            c.baseAddress, d.baseAddress, ast_mpi_float(), world)
                    }
                }
            }
        }
        guard status == MPI_SUCCESS else { abortJob("MPI_Allgatherv failed with \(status)") }
        do {
            var sum: SegmentGradient? = nil
            for r in 0..<segments {
                let (q, j) = (r % Int(ranks), r / Int(ranks))
                let at = Int(displacements[q]) + j * length
                let g = try SegmentGradient(
                    flattened: Array(gathered[at..<(at + length)]), imageElements: state.images.count)
                if sum == nil { sum = g } else { sum!.add(g) }
            }
            let report = try distiller.apply(sum!, to: &state)
            if rank == 0 {
                say("iteration \(report.iteration)/\(total): loss \(report.loss), alpha \(report.stepSize)")
                // eval.every: the writer evaluates, as `ast-distill distill` does (the others wait
                // at the next gather; the curve is not used by the updates).
                if config.evaluateEvery > 0, state.iteration % config.evaluateEvery == 0, state.iteration < total {
                    let point = try pipeline.evaluateDistilled(data: data, state: state)
                    state.evaluationCurve.append(EvaluationPoint(iteration: state.iteration, result: point))
                    say("evaluation after iteration \(state.iteration): \(String(format2: point.mean * 100))%")
                }
                if pipeline.checkpointDue(after: state.iteration) {
                    try pipeline.saveCheckpoint(state)
                    say("checkpoint after iteration \(state.iteration): \(pipeline.checkpointPath)")
                }
            }
        } catch {
            abortJob(error.message)
        }
    }
    let seconds = monotonicSeconds() - startTime
    if rank == 0 {
        let done = state.iteration - firstIteration
        if done > 0 {
            say(
                "\(done) iterations x \(segments) segments on \(ranks) ranks in \(String(format2: seconds)) s: "
                    + "\(String(format4: Double(done * segments) / seconds)) segments/s"
            )
        }
        do {
            _ = try pipeline.writeOutputs(data: data, state: state, store: nil, evaluation: nil)
        } catch {
            abortJob(error.message)
        }
        say(
            "distilled \(state.labels.count) images in \(state.iteration) iterations, alpha = \(state.stepSize); "
                + "wrote \(pipeline.outputDirectory)/distilled.safetensors and distilled.png"
        )
    }
    MPI_Barrier(world)
    return 0
}

extension String {
    init(format2 v: Double) { self = String(Double(Int((v * 100).rounded())) / 100) }
    init(format4 v: Double) { self = String(Double(Int((v * 10_000).rounded())) / 10_000) }
}

// MARK: - Main

func main() -> Int32 {
    MPI_Init(nil, nil)
    MPI_Comm_rank(world, &rank)
    MPI_Comm_size(world, &ranks)
    say("rank \(rank) of \(ranks), pid \(getpid())")
    // 1. Settings: the same rules as ast-distill, checked on every rank.
    guard
        let (options, config) = collectively(
            "reading the settings",
            { () throws -> (Options, RunConfiguration) in
                let o = try parseOptions(Array(CommandLine.arguments.dropFirst()))
                return (
                    o, try RunConfiguration.assemble(preset: o.preset, configFile: o.configFile, overrides: o.overrides)
                )
            })
    else { return 1 }
    // 2. The same job on every rank: command, output directory and every setting.
    let fingerprint = fnv1a(
        Array("\(options.command)\n\(options.out)\n".utf8)
            + Array(((try? config.json.serialized(sortedKeys: true)) ?? "").utf8))
    let fingerprints = allGather(fingerprint)
    let differing = fingerprints.indices.filter { fingerprints[$0] != fingerprints[0] }
    guard differing.isEmpty else {
        sayError(
            "the ranks were started with different settings (fingerprint of rank 0 "
                + "\(String(fingerprints[0], radix: 16)), differing on rank\(differing.count == 1 ? "" : "s") "
                + "\(differing.map(String.init).joined(separator: ", "))): "
                + "start every rank with the same command, settings and --out"
        )
        return 1
    }
    // 3. Enough work for every rank.
    let work = options.command == "experts" ? config.expertCount : config.distillation.segments
    let unit = options.command == "experts" ? "experts.count" : "distill.segments"
    guard Int(ranks) <= work else {
        sayError(
            "-np \(ranks) is larger than the work: \(unit) is \(work), so \(Int(ranks) - work) "
                + "rank\(Int(ranks) - work == 1 ? "" : "s") would have nothing to do; use at most \(work) ranks or "
                + "raise \(unit)"
        )
        return 1
    }
    // 4. One job per output directory.
    var lock: Int32 = -1
    guard
        collectively(
            "locking the output directory",
            { () throws -> Bool in
                if rank == 0 { lock = try lockOutputDirectory(options.out) }
                return true
            }) != nil
    else { return 1 }
    defer { if lock >= 0 { close(lock) } }
    // 5. Data on every rank, then the step.
    guard
        let (pipeline, data) = collectively(
            "loading the data",
            { () throws -> (Pipeline, PreparedData) in
                let p = try Pipeline(config: config, outputDirectory: options.out)
                return (p, try p.loadData())
            })
    else { return 1 }
    if rank == 0 {
        say("data: \(data.data.train.count) training / \(data.data.test.count) test images, \(ranks) ranks")
    }
    return options.command == "experts" ? runExperts(pipeline, data) : runDistill(pipeline, data)
}

let code = main()
MPI_Finalize()
exit(code)
