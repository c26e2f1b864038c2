import Testing
@testable import ASTCore
@testable import ASTDistill
import ASTData

/// The expert recipe as settings (experts.lr, …) and the evaluation curve (eval.every).
@Suite struct ExpertRecipeSettings {
    /// With no change the recipe is exactly the kind's, and the ramp with AST's start and length
    /// is bit-for-bit the former 0.5 + 0.05·e (stores made before keep their identity).
    @Test func unchangedRecipeIsTheKinds() throws {
        for kind in ExpertKind.allCases {
            var c = RunConfiguration()
            c.expertKind = kind
            let t = try c.expertTraining
            let base = TrainingSettings.expert(kind, epochs: c.expertEpochs, augmentation: try DSA())
            #expect(t.sgd == base.sgd && t.lossScaling == base.lossScaling && t.gradientPenalty == base.gradientPenalty)
            #expect(TrajectoryStore.describe(t) == TrajectoryStore.describe(base))
        }
        let ast = TrainingSettings.astExpert(epochs: 20, augmentation: nil)
        for e in 0..<14 {
            #expect(ast.lossScale(epoch: e) == (e < 10 ? 0.5 + 0.05 * Double(e) : 1), "epoch \(e)")
        }
        #expect(!TrajectoryStore.describe(ast).contains("loss_scale="))
    }

    /// Each setting changes its field, reads back the value in effect, and −1 restores the kind's.
    @Test func settingsChangeOneFieldEach() throws {
        var c = RunConfiguration()
        c.expertKind = .mtt
        c.expertEpochs = 8
        try c.set("experts.lr", text: "0.02")
        try c.set("experts.momentum", text: "0.5")
        try c.set("experts.weight_decay", text: "0.0005")
        try c.set("experts.decay_epoch", text: "5")
        try c.set("experts.decay_factor", text: "0.1")
        try c.set("experts.momentum_reset", text: "1")
        try c.set("experts.loss_scale_start", text: "0.6")
        try c.set("experts.loss_scale_epochs", text: "2")
        try c.set("experts.gradient_penalty", text: "0.5")
        let t = try c.expertTraining
        #expect(
            t.sgd
                == SGDSettings(
                    learningRate: 0.02, momentum: 0.5, weightDecay: 0.0005, decayEpochs: [5],
                    decayFactor: 0.1, resetMomentumAtDecay: true))
        #expect(t.lossScaling && t.gradientPenalty == 0.5)
        #expect(t.lossScale(epoch: 0) == 0.6 && t.lossScale(epoch: 1) == 0.8 && t.lossScale(epoch: 2) == 1)
        #expect(t.learningRate(epoch: 4) == 0.02 && abs(t.learningRate(epoch: 5) - 0.002) < 1e-12)
        #expect(TrajectoryStore.describe(t).contains("loss_scale=0.6/2"))
        #expect(try c.value("experts.lr") == .float(0.02))
        #expect(try c.value("experts.decay_epoch") == .int(5))

        try c.set("experts.lr", text: "-1")
        try c.set("experts.decay_epoch", text: "-1")
        #expect(try c.value("experts.lr") == .float(0.01))  // MTT's
        #expect(try c.value("experts.decay_epoch") == .int(0))
        c.expertKind = .ast
        #expect(try c.value("experts.lr") == .float(0.003))
        #expect(try c.value("experts.decay_epoch") == .int(5))  // 8 / 2 + 1
        #expect(try c.value("experts.momentum") == .float(0.5))  // still the run's change

        // Switching the ramp off either way.
        var d = RunConfiguration()
        try d.set("experts.loss_scale_start", text: "1")
        #expect(try !d.expertTraining.lossScaling)
        #expect(try d.value("experts.loss_scale_start") == .float(1))
        #expect(try d.value("experts.loss_scale_epochs") == .int(10))
        var e = RunConfiguration()
        try e.set("experts.loss_scale_epochs", text: "0")
        #expect(try !e.expertTraining.lossScaling)
    }

    /// The settings JSON carries the recipe in effect, and applying it back trains the same way.
    @Test func recipeRoundTripsThroughJSON() throws {
        var c = RunConfiguration()
        try c.set("experts.gradient_penalty", text: "0.25")
        try c.set("experts.decay_epoch", text: "3")
        var back = RunConfiguration()
        try back.apply(json: c.json, source: "test")
        #expect(TrajectoryStore.describe(try back.expertTraining) == TrajectoryStore.describe(try c.expertTraining))
        #expect(try back.json.serialized(sortedKeys: true) == c.json.serialized(sortedKeys: true))
        #expect(back == c)
        // A value equal to the kind's is the kind's: it follows a later change of kind.
        var d = RunConfiguration()
        try d.set("experts.lr", text: "0.003")  // AST's
        d.expertKind = .mtt
        #expect(try d.value("experts.lr") == .float(0.01))
    }

    /// MTT's kind has no ramp (λ_0 1, L 0): one half of a ramp set there leaves it off and is
    /// reported as set, and every combination on either kind reapplies from its JSON to an equal
    /// configuration (a fuzzer found `experts.loss_scale_epochs` 1 on MTT ramping from a hidden
    /// λ_0 0.5 whose JSON read back as a different configuration).
    @Test func rampHalvesRoundTrip() throws {
        var mtt = RunConfiguration()
        mtt.expertKind = .mtt
        #expect(try mtt.value("experts.loss_scale_start") == .float(1))
        #expect(try mtt.value("experts.loss_scale_epochs") == .int(0))
        try mtt.set("experts.loss_scale_epochs", text: "1")
        #expect(try !mtt.expertTraining.lossScaling)
        #expect(try mtt.value("experts.loss_scale_epochs") == .int(1))
        try mtt.set("experts.loss_scale_start", text: "0.5")
        #expect(try mtt.expertTraining.lossScale(epoch: 0) == 0.5 && mtt.expertTraining.lossScale(epoch: 1) == 1)
        for kind in ExpertKind.allCases {
            for start in ["-1", "0.25", "0.5", "1"] {
                for epochs in ["-1", "0", "1", "10"] {
                    for order in [false, true] {
                        var c = RunConfiguration()
                        c.expertKind = kind
                        let pairs = [("experts.loss_scale_start", start), ("experts.loss_scale_epochs", epochs)]
                        for (name, text) in order ? pairs.reversed() : pairs { try c.set(name, text: text) }
                        var back = RunConfiguration()
                        try back.apply(json: c.json, source: "test")
                        #expect(back == c, "\(kind) start \(start) epochs \(epochs)")
                        let t = try c.expertTraining
                        #expect(try c.value("experts.loss_scale_start") == .float(t.lossScaleStart))
                        #expect(try c.value("experts.loss_scale_epochs") == .int(Int64(t.lossScaleEpochs)))
                    }
                }
            }
        }
    }

    @Test func badValuesAreErrors() {
        for (name, text) in [
            ("experts.lr", "0"), ("experts.lr", "-0.5"), ("experts.momentum", "-0.2"), ("experts.momentum", "1"),
            ("experts.decay_factor", "0"), ("experts.loss_scale_start", "0"), ("experts.loss_scale_start", "1.5"),
            ("experts.decay_epoch", "-2"), ("experts.momentum_reset", "2"), ("experts.gradient_penalty", "-3"),
            ("experts.weight_decay", "nan"), ("eval.every", "-1")
        ] {
            var c = RunConfiguration()
            #expect(throws: ASTError.self, "\(name)=\(text)") { try c.set(name, text: text) }
            #expect(c == RunConfiguration(), "\(name)=\(text) changed the configuration")
        }
    }
}

@Suite struct EvaluationCurve {
    /// eval.every = 2 over 5 iterations evaluates after 2 and 4 (and the end, in the report);
    /// the curve survives a stop and resume, and the points equal a direct evaluation.
    @Test func curveIsRecordedAndResumed() throws {
        var (c, data) = try tinyRun()
        c.evaluateEvery = 2
        let (straight, b, stopError) = try straightAndStopped(c, data, stopAfter: 3, tag: "curve")
        #expect(straight.evaluationCurve.map(\.iteration) == [2, 4])
        #expect(straight.stepSizeHistory.count == 5 && straight.stepSizeHistory.last == straight.stepSize)
        #expect(stopError?.kind == .cancelled)
        #expect(try b.loadCheckpoint()?.evaluationCurve.map(\.iteration) == [2])
        let resumed = try b.distill(data: data)
        #expect(resumed == straight)

        // A point is the protocol's result for the set as it was then: re-evaluating the
        // iteration-4 checkpoint's set gives the same accuracies.
        var c4 = c
        c4.distillation.iterations = 4
        c4.evaluateEvery = 0
        let d = try Pipeline(config: c4, outputDirectory: temporaryDirectory("curve-d"))
        try d.generateExperts(data: data)
        let at4 = try d.distill(data: data)
        #expect(try d.evaluateDistilled(data: data, state: at4) == straight.evaluationCurve[1].result)

        let final = try b.evaluate(data: data, state: straight)
        let report = try b.writeOutputs(data: data, state: straight, store: nil, evaluation: final)
        let curve = report["evaluation_curve"]?.array ?? []
        #expect(curve.compactMap { $0["iteration"]?.double } == [2, 4, 5])
        #expect(report["syn_lr_history"]?.array?.count == 5)
        // What the bytes also depend on: OpenBLAS's kernels and libast's threads.
        #expect(report["runtime"]?["blas_core"]?.string == BLAS.coreName && !BLAS.coreName.isEmpty)
        #expect(report["runtime"]?["threads"]?.double == Double(BLAS.threadCount))
    }
}
