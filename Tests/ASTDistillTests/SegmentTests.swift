import Testing
@testable import ASTCore
@testable import ASTDistill
import ASTData

/// FNV-1a over every value of a distillation state (bit patterns of the floats).
func stateDigest(_ s: DistillationState) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    func mix(_ v: UInt64) { for b in 0..<8 { h = (h ^ ((v >> (8 * UInt64(b))) & 0xff)) &* 0x100_0000_01b3 } }
    for x in s.images { mix(UInt64(x.bitPattern)) }
    for x in s.imageVelocity { mix(UInt64(x.bitPattern)) }
    mix(UInt64(s.stepSize.bitPattern)); mix(UInt64(s.stepSizeVelocity.bitPattern)); mix(UInt64(s.iteration))
    for chunk in s.pendingChunks { mix(UInt64(chunk.count)); for i in chunk { mix(UInt64(i)) } }
    for x in s.lossHistory { mix(UInt64(x.bitPattern)) }
    for x in s.labelLogits ?? [] { mix(UInt64(x.bitPattern)) }
    for x in s.labelVelocity ?? [] { mix(UInt64(x.bitPattern)) }
    return h
}

@Suite struct Segments {
    func settings(ast: Bool, soft: Bool) -> DistillationSettings {
        var s = ast ? DistillationSettings.ast(ipc: 2) : DistillationSettings.mtt(ipc: 2)
        (s.syntheticSteps, s.expertEpochs, s.maxStartEpoch, s.iterations) = (4, 2, 2, 4)
        (s.imageLearningRate, s.learningRateLearningRate, s.initialStepSize) = (10, 1e-5, 0.01)
        s.syntheticBatch = 3
        s.augmentation = "color_crop_cutout_flip_scale_rotate"
        s.learnSoftLabels = soft
        s.seed = 11
        return s
    }

    func run(
        ast: Bool, soft: Bool, iterations: Int, change: (inout DistillationSettings) -> Void = { _ in }
    ) throws -> DistillationState {
        var s = settings(ast: ast, soft: soft)
        change(&s)
        let distiller = try Distiller(network: tinyNet, settings: s, experts: try tinyExperts(ast ? .ast : .mtt))
        var state = try distiller.initialState(
            from: SyntheticSet.initialize(
                .real, ipc: 2, from: tinyData(perClass: 20, seed: 1), network: tinyNet, seed: 5))
        for _ in 0..<iterations { _ = try distiller.step(&state) }
        return state
    }

    /// Digests of the state after 3 iterations, recorded with the code before distill.segments
    /// existed (commit 1d75e4d): one segment keeps every draw and every byte. The bytes depend on
    /// the sgemm kernels, so the digests hold where they were recorded: OpenBLAS's SSE3
    /// "Prescott" kernels (e.g. OPENBLAS_CORETYPE=Prescott); elsewhere only determinism is checked.
    @Test func oneSegmentKeepsThePreviousBytes() throws {
        let mtt = stateDigest(try run(ast: false, soft: false, iterations: 3))
        let ast = stateDigest(try run(ast: true, soft: true, iterations: 3))
        #expect(mtt == stateDigest(try run(ast: false, soft: false, iterations: 3)))
        #expect(ast == stateDigest(try run(ast: true, soft: true, iterations: 3)))
        guard BLAS.coreName.lowercased() == "prescott" else { return }
        #expect(mtt == 621_799_910_828_791_339)
        #expect(ast == 6_899_308_178_623_040_249)
    }

    /// R segments: the step is the update with the mean of the R segment gradients; each
    /// gradient depends only on (seed, iteration, segment) and the state, so any order gives the
    /// same bytes; segment 0 draws what the one-segment loop draws.
    @Test(arguments: [false, true])
    func segmentGradientsAreAveraged(soft: Bool) throws {
        let experts = try tinyExperts(.ast)
        var s = settings(ast: true, soft: soft)
        s.segments = 3
        let distiller = try Distiller(network: tinyNet, settings: s, experts: experts)
        let initial = try distiller.initialState(
            from: SyntheticSet.initialize(
                .real, ipc: 2, from: tinyData(perClass: 20, seed: 1), network: tinyNet, seed: 5))
        // The first update starts from zero velocity: velocity = mean image gradient.
        let g =
            try (0..<3).reversed().map { r throws(ASTError) in try distiller.segmentGradient(initial, segment: r) }
            .reversed() as [SegmentGradient]
        #expect(g[0] != g[1] && g[1] != g[2])
        var first = initial
        _ = try distiller.step(&first)
        for i in stride(from: 0, to: initial.images.count, by: 7) {
            let mean = (g[0].imageGradient[i] + g[1].imageGradient[i] + g[2].imageGradient[i]) / 3
            #expect(abs(first.imageVelocity[i] - mean) <= 1e-6 * max(1, abs(mean)))
        }
        #expect(abs(first.lossHistory[0] - (g[0].loss + g[1].loss + g[2].loss) / 3) <= 1e-6 * g[0].loss)
        #expect(first.segmentPendingChunks.count == 2)
        // A later iteration (queues carried over), by hand in reverse order vs step.
        let h =
            try (0..<3).reversed().map { r throws(ASTError) in try distiller.segmentGradient(first, segment: r) }
            .reversed() as [SegmentGradient]
        var sum = h[0]
        sum.add(h[1])
        sum.add(h[2])
        var byHand = first
        _ = try distiller.apply(sum, to: &byHand)
        var stepped = first
        _ = try distiller.step(&stepped)
        #expect(byHand == stepped)
        #expect(stepped.iteration == 2 && (stepped.labelLogits != nil) == soft)
        // Segment 0 of R = 3 is the single-segment loop's segment.
        var one = s
        one.segments = 1
        let single = try Distiller(network: tinyNet, settings: one, experts: experts)
        #expect(try single.segmentGradient(initial, segment: 0) == g[0])
        // Transport form round trip; bad segment indices and sums are errors, the state stays.
        #expect(try SegmentGradient(flattened: h[1].flattened, imageElements: first.images.count) == h[1])
        #expect(h[1].flattened.count == distiller.gradientLength(count: first.labels.count))
        #expect(throws: ASTError.self) { try distiller.segmentGradient(first, segment: 3) }
        var short = sum
        short.imageGradient.removeLast()
        var untouched = first
        #expect(throws: ASTError.self) { try distiller.apply(short, to: &untouched) }
        #expect(untouched == first)
    }

    /// distill.segments is key 220 of the one settings table, bounded 1...65536.
    @Test func segmentsSetting() throws {
        let p = try #require(RunConfiguration.parameter(key: 220))
        #expect(p.name == "distill.segments" && p.minimum == 1 && p.maximum == 65_536)
        var c = RunConfiguration()
        #expect(c.distillation.segments == 1)
        try c.set("distill.segments", text: "4")
        #expect(c.distillation.segments == 4)
        #expect(throws: ASTError.self) { try c.set("distill.segments", text: "0") }
        let assembled = try RunConfiguration.assemble(
            preset: "quick", configFile: nil, overrides: ["distill.segments=3"])
        #expect(assembled.distillation.segments == 3)
        #expect(throws: ASTError.self) {
            try RunConfiguration.assemble(preset: nil, configFile: nil, overrides: ["distill.segments"])
        }
    }
}

@Suite struct SegmentPipeline {
    /// With two segments and soft labels, a run stopped after iteration 3 resumes from its
    /// checkpoint (which holds both segments' queues) and ends in the uninterrupted state.
    @Test func twoSegmentsResumeFromCheckpointExactly() throws {
        var (c, data) = try tinyRun()
        c.distillation.segments = 2
        c.distillation.learnSoftLabels = true
        let (straight, b, _) = try straightAndStopped(c, data, stopAfter: 3, tag: "seg")
        let saved = try #require(try b.loadCheckpoint())
        #expect(saved.iteration == 3 && saved.segmentPendingChunks.count == 1)
        #expect(try SafeTensorsFile(path: b.checkpointPath).contains("segment_chunk_counts"))
        #expect(try b.distill(data: data) == straight)
        // One segment: no extra tensors (the checkpoint layout of earlier releases).
        var (one, _) = try tinyRun()
        one.distillation.iterations = 1
        let o = try Pipeline(config: one, outputDirectory: temporaryDirectory("seg-one"))
        try o.generateExperts(data: data)
        _ = try o.distill(data: data)
        #expect(try !SafeTensorsFile(path: o.checkpointPath).contains("segment_chunk_counts"))
    }

    /// A checkpoint written before distill.segments existed (its settings lack the name) still
    /// resumes with the default; with another value it is a checkpoint of other settings.
    @Test func checkpointFromBeforeTheSettingResumes() throws {
        var (c, data) = try tinyRun()
        c.distillation.iterations = 2
        let p = try Pipeline(config: c, outputDirectory: temporaryDirectory("seg-old"))
        try p.generateExperts(data: data)
        let state = try p.distill(data: data)
        let file = try SafeTensorsFile(path: p.checkpointPath)
        var w = SafeTensorsWriter()
        for key in file.metadataKeys {
            var value = file.metadata[key] ?? ""
            if key == "settings" {
                guard var object = try JSONValue.parse(value).object else {
                    Issue.record("settings not an object"); return
                }
                #expect(object["distill.segments"] != nil)
                object["distill.segments"] = nil
                value = try JSONValue.object(object).serialized(sortedKeys: true)
            }
            w.setMetadata(value, forKey: key)
        }
        for t in file.tensors { try w.add(t.name, file.tensor(t.name)) }
        try w.write(path: p.checkpointPath)
        #expect(try p.loadCheckpoint() == state)
        var other = c
        other.distillation.segments = 2
        let q = try Pipeline(config: other, outputDirectory: p.outputDirectory)
        #expect(throws: ASTError.self) { try q.loadCheckpoint() }
    }
}
