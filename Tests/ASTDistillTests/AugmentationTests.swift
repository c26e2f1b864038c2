import Testing
import ASTCore
import ASTDistill
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Hand-made draws for a batch of 2 images of 5 x 6 (non-square, to catch row/column mix-ups),
/// one per group, with parameters away from special values.
private func sampleDraws() throws -> [(String, AugmentationDraw)] {
    func d(_ p: AugmentationDraw.Parameters) throws -> AugmentationDraw {
        try AugmentationDraw(count: 2, height: 5, width: 6, parameters: p)
    }
    return [
        ("color", try d(.color(brightness: [0.3, -0.2], saturation: [1.7, 0.4], contrast: [0.6, 1.3]))),
        ("crop", try d(.crop(rowShift: [1, -2], columnShift: [-1, 3]))),
        ("cutout", try d(.cutout(top: [1, -1], left: [2, 4], height: 3, width: 3))),
        ("flip", try d(.flip([true, false]))),
        ("scale", try d(.scale(x: [1.13, 0.87], y: [0.91, 1.19]))),
        ("rotate", try d(.rotate(radians: [0.21, -0.17])))
    ]
}

/// Σ a ⊙ b.
private func inner(_ a: Tensor<Double>, _ b: Tensor<Double>) -> Double {
    zip(a.scalars, b.scalars).reduce(0) { $0 + $1.0 * $1.1 }
}

/// The kind of ASTError `body` throws (nil when it does not throw; `.internal` for other errors).
private func errorKind(_ body: () throws -> Void) -> ASTError.Kind? {
    do { try body(); return nil } catch let e as ASTError { return e.kind } catch { return .internal }
}

private func image(_ shape: [Int], _ values: [Double]) -> Tensor<Double> {
    (try? Tensor<Double>(shape: shape, scalars: values))!
}

/// Every DSA map against central finite differences (first and second order, Double; step
/// 1e-6; tolerance 1e-6 relative to the largest finite-difference value, as for the core ops).
/// The maps are affine, so the checked functions square their output (or multiply it by the
/// input) to give the second derivative something to see: it then runs through the op's
/// adjoint rule and that rule's rule.
@Suite struct AugmentationGradients {
    let tolerance = 1e-6
    let dsa = (try? DSA())!

    @Test func eachGroupFirstAndSecondOrder() throws {
        let x = randomTensor([2, 3, 5, 6], seed: 31)
        for (name, draw) in try sampleDraws() {
            let squared = try checkGradients(inputs: [x]) { xs in
                let y = try dsa.apply(draw, to: xs[0])
                return try y.multiplying(y)
            }
            #expect(squared.firstOrder < tolerance, "\(name) squared: \(squared)")
            #expect(squared.secondOrder < tolerance, "\(name) squared: \(squared)")
            let mixed = try checkGradients(inputs: [x]) { xs in try dsa.apply(draw, to: xs[0]).multiplying(xs[0]).exp()
            }
            #expect(mixed.firstOrder < tolerance, "\(name) times x: \(mixed)")
            #expect(mixed.secondOrder < tolerance, "\(name) times x: \(mixed)")
            let adjoint = try checkGradients(inputs: [x]) { xs in
                let y = try dsa.applyAdjoint(draw, to: xs[0])
                return try y.multiplying(y)
            }
            #expect(adjoint.firstOrder < tolerance, "\(name) adjoint: \(adjoint)")
            #expect(adjoint.secondOrder < tolerance, "\(name) adjoint: \(adjoint)")
        }
    }

    /// ⟨A x, y⟩ = ⟨x, Aᵀ y⟩ for the linear part A (color: A x = color(x) − color(0)), and the
    /// autodiff gradient of ⟨apply(x), y⟩ is Aᵀ y.
    @Test func adjointIdentity() throws {
        let x = randomTensor([2, 3, 5, 6], seed: 32), y = randomTensor([2, 3, 5, 6], seed: 33)
        let zero = try Tensor<Double>.zeros([2, 3, 5, 6])
        for (name, draw) in try sampleDraws() {
            let ax = try dsa.apply(draw, to: x).subtracting(dsa.apply(draw, to: zero))
            let aty = try dsa.applyAdjoint(draw, to: y)
            let lhs = inner(ax, y), rhs = inner(x, aty)
            #expect(abs(lhs - rhs) <= 1e-12 * max(1, abs(lhs)), "\(name): ⟨Ax, y⟩ = \(lhs), ⟨x, Aᵀy⟩ = \(rhs)")
            let v = x.variable()
            let g = try gradients(of: dsa.apply(draw, to: v).dot(y), wrt: [v])[0]
            #expect(zip(g.scalars, aty.scalars).allSatisfy { abs($0 - $1) < 1e-12 }, "\(name): gradient ≠ Aᵀy")
        }
    }

    /// Hessian-vector products through a DSA step in a small network-like chain: the second
    /// derivative of a loss of exp(DSA(x)) with respect to x matches finite differences for
    /// draws made by `DSA` itself (every group, several seeds).
    @Test func drawnParameters() throws {
        let x = randomTensor([3, 2, 6, 6], seed: 34, scale: 0.5)
        var rng = SeededGenerator(seed: 35)
        var seen = Set<String>()
        for _ in 0..<24 {
            let draw = dsa.draw(count: 3, height: 6, width: 6, using: &rng)
            seen.insert(draw.group?.rawValue ?? "none")
            let r = try checkGradients(inputs: [x]) { xs in try dsa.apply(draw, to: xs[0]).exp() }
            #expect(r.firstOrder < tolerance && r.secondOrder < tolerance, "\(String(describing: draw.group)): \(r)")
        }
        #expect(seen.count == 6)
    }
}

@Suite struct AugmentationKnownAnswers {
    let dsa = (try? DSA())!

    func apply(_ parameters: AugmentationDraw.Parameters, _ x: Tensor<Double>) throws -> [Double] {
        let draw = try AugmentationDraw(
            count: x.shape[0], height: x.shape[2], width: x.shape[3], parameters: parameters)
        return try dsa.apply(draw, to: x).scalars
    }

    @Test func flipOf2x3() throws {
        // two samples of one 2x3 channel; only the first is flipped
        let x = image([2, 1, 2, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
        #expect(try apply(.flip([true, false]), x) == [3, 2, 1, 6, 5, 4, 7, 8, 9, 10, 11, 12])
    }

    @Test func cropShiftsWithZeroFill() throws {
        // out[i, j] = x[i + 1, j + 1]: the image moves up-left, zeros come in at the bottom/right
        let x = image([1, 2, 3, 3], (1...18).map(Double.init))
        #expect(
            try apply(.crop(rowShift: [1], columnShift: [1]), x)
                == [5, 6, 0, 8, 9, 0, 0, 0, 0, 14, 15, 0, 17, 18, 0, 0, 0, 0])
        #expect(
            try apply(.crop(rowShift: [-1], columnShift: [0]), x)
                == [0, 0, 0, 1, 2, 3, 4, 5, 6, 0, 0, 0, 10, 11, 12, 13, 14, 15])
        #expect(try apply(.crop(rowShift: [3], columnShift: [0]), x) == Array(repeating: 0, count: 18))
    }

    @Test func cutoutZeroesSideSquaredPixelsPerChannel() throws {
        let x = image([1, 3, 8, 8], Array(repeating: 1, count: 192))
        let y = try apply(.cutout(top: [2], left: [3], height: 4, width: 4), x)
        for ch in 0..<3 {
            let plane = Array(y[(ch * 64)..<((ch + 1) * 64)])
            #expect(plane.filter { $0 == 0 }.count == 16)
            #expect(plane[2 * 8 + 3] == 0 && plane[5 * 8 + 6] == 0 && plane[1 * 8 + 3] == 1 && plane[2 * 8 + 7] == 1)
        }
        // clipped at a corner: rows −1..<3 and columns 6..<10 leave 3 x 2 pixels
        let clipped = try apply(.cutout(top: [-1], left: [6], height: 4, width: 4), x)
        #expect(clipped.filter { $0 == 0 }.count == 3 * 6)

        // Drawn cutouts follow the reference: side Int(0.5·8 + 0.5) = 4, centre offset in
        // [0, 8 + 1 − 4 % 2) = [0, 9), so top (= offset − 2) covers −2 ... 6, and the zeroed
        // area is the square clipped to the image.
        let cutoutOnly = try DSA(strategy: "cutout")
        var rng = SeededGenerator(seed: 3)
        var tops = Set<Int>()
        for _ in 0..<200 {
            let draw = cutoutOnly.draw(count: 1, height: 8, width: 8, using: &rng)
            guard case let .cutout(top, left, h, w) = draw.parameters else { Issue.record("not a cutout"); return }
            #expect(h == 4 && w == 4)
            tops.insert(top[0])
            let rows = min(8, top[0] + 4) - max(0, top[0]), cols = min(8, left[0] + 4) - max(0, left[0])
            let zeros = try cutoutOnly.apply(draw, to: x).scalars.filter { $0 == 0 }.count
            #expect(zeros == 3 * rows * cols)
        }
        #expect(tops == Set(-2...6))
    }

    @Test func identityScaleAndRotation() throws {
        let x = randomTensor([2, 3, 5, 6], seed: 40)
        #expect(try apply(.scale(x: [1, 1], y: [1, 1]), x) == x.scalars)
        #expect(try apply(.rotate(radians: [0, 0]), x) == x.scalars)
        #expect(try apply(.color(brightness: [0, 0], saturation: [1, 1], contrast: [1, 1]), x) == x.scalars)
    }

    /// θ = 90° (the reference's "anticlockwise 90 degree"): out[i][j] = x[j][W − 1 − i].
    @Test func quarterTurn() throws {
        let x = image([1, 1, 3, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9])
        let y = try apply(.rotate(radians: [Double.pi / 2]), x)
        #expect(zip(y, [3, 6, 9, 2, 5, 8, 1, 4, 7]).allSatisfy { abs($0 - $1) < 1e-12 }, "\(y)")
    }

    /// Rotation by 0.3 rad of a non-square 4 x 5 image x[i][j] = (5i + j + 1)^1.5 against an
    /// independent float64 numpy re-implementation of torch affine_grid + grid_sample (bilinear,
    /// zero padding, align_corners = true, ATen's corner weights), made at development time.
    @Test func rotationMatchesGridSampleReimplementation() throws {
        let x = image([1, 1, 4, 5], (0..<20).map { pow(Double($0 + 1), 1.5) })
        let expected = [
            1.3996177797343003, 3.6634303931078023, 8.083268941308303, 15.44921490771885, 10.768778870579442,
            9.785549816344316, 16.301565326533783, 24.035311377207414, 33.937537080851904, 39.215794699912536,
            23.502716974988783, 35.217961363702145, 45.29124779055532, 57.07213574402769, 69.54524656617986,
            24.893742218041325, 58.68963913022678, 70.72133935290921, 66.54449950722693, 52.97598494995083
        ]
        let y = try apply(.rotate(radians: [0.3]), x)
        #expect(zip(y, expected).allSatisfy { abs($0 - $1) < 1e-12 * max(1, abs($1)) }, "\(y)")
    }

    /// Bilinear sampling with align_corners = true and zero padding, worked by hand for a row
    /// of 5: sx = 0.5 reads source columns 1, 1.5, 2, 2.5, 3; sx = 2 reads −2, 0, 2, 4, 6.
    @Test func scaleSamplesBilinearly() throws {
        let x = image([1, 1, 1, 5], [10, 20, 40, 80, 160])
        #expect(try apply(.scale(x: [0.5], y: [1]), x) == [20, 30, 40, 60, 80])
        #expect(try apply(.scale(x: [2], y: [1]), x) == [0, 10, 40, 160, 0])
        // rows: a 3 x 1 column with sy = 0.5 reads rows 0.5, 1, 1.5
        let col = image([1, 1, 3, 1], [1, 3, 7])
        #expect(try apply(.scale(x: [1], y: [0.5]), col) == [2, 3, 5])
    }

    /// The fused color map equals brightness, then saturation, then contrast written out.
    @Test func colorIsBrightnessSaturationContrast() throws {
        let (n, c, h, w) = (2, 3, 4, 5)
        let x = randomTensor([n, c, h, w], seed: 41)
        let (b, s, k) = ([0.3, -0.45], [1.8, 0.2], [0.7, 1.4])
        var v = x.scalars
        let plane = h * w
        for i in 0..<n {
            for j in 0..<(c * plane) { v[i * c * plane + j] += b[i] }
            for p in 0..<plane {
                let m = (0..<c).reduce(0.0) { $0 + v[(i * c + $1) * plane + p] } / Double(c)
                for ch in 0..<c { v[(i * c + ch) * plane + p] = (v[(i * c + ch) * plane + p] - m) * s[i] + m }
            }
            let all = v[(i * c * plane)..<((i + 1) * c * plane)].reduce(0, +) / Double(c * plane)
            for j in 0..<(c * plane) { v[i * c * plane + j] = (v[i * c * plane + j] - all) * k[i] + all }
        }
        let y = try apply(.color(brightness: b, saturation: s, contrast: k), x)
        #expect(zip(y, v).allSatisfy { abs($0 - $1) < 1e-12 })
        // saturation 0 gives grey (all channels equal), contrast 0 a constant image
        let grey = try apply(.color(brightness: [0, 0], saturation: [0, 0], contrast: [1, 1]), x)
        #expect(abs(grey[0] - grey[plane]) < 1e-12 && abs(grey[7] - grey[2 * plane + 7]) < 1e-12)
        let flat = try apply(.color(brightness: [0, 0], saturation: [1, 1], contrast: [0, 0]), x)
        #expect(Set(flat[0..<(c * plane)].map { ($0 * 1e9).rounded() }).count == 1)
    }

    /// Float and Double kernels agree.
    @Test func floatMatchesDouble() throws {
        let x = randomTensor([2, 3, 5, 6], seed: 42)
        let xf = try Tensor<Float>(shape: x.shape, scalars: x.scalars.map { Float($0) })
        for (name, draw) in try sampleDraws() {
            let a = try dsa.apply(draw, to: x).scalars, b = try dsa.apply(draw, to: xf).scalars
            #expect(zip(a, b).allSatisfy { abs($0 - Double($1)) < 1e-5 }, "\(name)")
        }
    }
}

@Suite struct AugmentationDrawing {
    /// One group per call, uniform: 6000 draws give each group 1000 ± 150 (5 standard deviations).
    /// Two generators with the same seed give the same draws.
    @Test func groupChoiceIsUniformAndReproducible() throws {
        let dsa = try DSA()
        var a = SeededGenerator(seed: 99), b = SeededGenerator(seed: 99)
        var counts: [AugmentationGroup: Int] = [:]
        for _ in 0..<6000 {
            let d1 = dsa.draw(count: 4, height: 8, width: 8, using: &a)
            let d2 = dsa.draw(count: 4, height: 8, width: 8, using: &b)
            #expect(d1 == d2)
            counts[d1.group!, default: 0] += 1
        }
        for g in AugmentationGroup.allCases {
            #expect((850...1150).contains(counts[g] ?? 0), "\(g): \(counts[g] ?? 0)")
        }
    }

    /// Applying one draw twice gives identical results (what the distillation backward pass replays).
    @Test func replayIsIdentical() throws {
        let dsa = try DSA()
        var rng = SeededGenerator(seed: 7)
        var x = [Float](repeating: 0, count: 4 * 3 * 32 * 32)
        for i in x.indices { x[i] = Float(rng.nextUniform()) }
        let images = try Tensor<Float>(shape: [4, 3, 32, 32], scalars: x)
        for _ in 0..<30 {
            let draw = dsa.draw(count: 4, height: 32, width: 32, using: &rng)
            #expect(try dsa.apply(draw, to: images).scalars == dsa.apply(draw, to: images).scalars)
        }
        // augment = draw then apply, from the same generator state
        var g1 = SeededGenerator(seed: 8), g2 = SeededGenerator(seed: 8)
        let d = dsa.draw(count: 4, height: 32, width: 32, using: &g1)
        #expect(try dsa.augment(images, using: &g2).scalars == dsa.apply(d, to: images).scalars)
    }

    /// Per-sample parameters stay within the reference ranges and reach their ends.
    @Test func parameterRanges() throws {
        var rng = SeededGenerator(seed: 12)
        let n = 2000
        func draw(_ strategy: String) throws -> AugmentationDraw.Parameters {
            try DSA(strategy: strategy).draw(count: n, height: 32, width: 28, using: &rng).parameters
        }
        guard case let .color(b, s, c) = try draw("color"),
            case let .crop(r, q) = try draw("crop"),
            case let .flip(f) = try draw("flip"),
            case let .scale(sx, sy) = try draw("scale"),
            case let .rotate(theta) = try draw("rotate")
        else { Issue.record("wrong group"); return }
        #expect(b.allSatisfy { (-0.5..<0.5).contains($0) } && b.min()! < -0.49 && b.max()! > 0.49)
        #expect(s.allSatisfy { (0..<2).contains($0) } && s.min()! < 0.01 && s.max()! > 1.99)
        #expect(c.allSatisfy { (0.5..<1.5).contains($0) })
        // s = Int(0.125·32 + 0.5) = 4 rows, Int(0.125·28 + 0.5) = 4 columns
        #expect(Set(r) == Set(-4...4) && Set(q) == Set(-4...4))
        #expect((900...1100).contains(f.filter { $0 }.count))
        for v in sx + sy { #expect(v >= 1 / 1.2 && v < 1.2) }
        let limit = 15.0 / 180 * Double.pi
        #expect(theta.allSatisfy { abs($0) <= limit } && theta.max()! > 0.99 * limit && theta.min()! < -0.99 * limit)
    }

    @Test func strategies() throws {
        var rng = SeededGenerator(seed: 5)
        let cropFlip = try DSA(strategy: "crop_flip")
        #expect(cropFlip.groups == [.crop, .flip] && cropFlip.strategy == "crop_flip")
        var seen = Set<AugmentationGroup>()
        for _ in 0..<100 { seen.insert(cropFlip.draw(count: 2, height: 8, width: 8, using: &rng).group!) }
        #expect(seen == [.crop, .flip])

        let none = try DSA(strategy: "none")
        #expect(none.groups.isEmpty && none.strategy == "none")
        let x = randomTensor([2, 1, 4, 4], seed: 1)
        let d = none.draw(count: 2, height: 4, width: 4, using: &rng)
        #expect(d.group == nil && d.parameters == .identity)
        #expect(try none.apply(d, to: x).scalars == x.scalars)
        #expect(try DSA(strategy: "").groups.isEmpty)

        #expect(errorKind { _ = try DSA(strategy: "crop_noise") } == .invalidArgument)
        #expect(errorKind { _ = try DSA(strategy: "crop__flip") } == .invalidArgument)
        var options = DSA.Options()
        options.scaleRatio = 0.5
        #expect(errorKind { _ = try DSA(options: options) } == .invalidArgument)
        options = DSA.Options()
        options.flipProbability = .nan
        #expect(errorKind { _ = try DSA(options: options) } == .nonFinite)
        // a draw applies only to images of its batch size and resolution
        let full = try DSA()
        let draw = full.draw(count: 2, height: 4, width: 4, using: &rng)
        #expect(errorKind { _ = try full.apply(draw, to: randomTensor([3, 1, 4, 4], seed: 2)) } == .shapeMismatch)
        #expect(errorKind { _ = try full.apply(draw, to: randomTensor([2, 1, 4, 5], seed: 2)) } == .shapeMismatch)
        #expect(errorKind { _ = try full.apply(draw, to: randomTensor([2, 16], seed: 2)) } == .shapeMismatch)
        #expect(
            errorKind { _ = try AugmentationDraw(count: 2, height: 4, width: 4, parameters: .flip([true])) }
                == .shapeMismatch)
        #expect(
            errorKind { _ = try AugmentationDraw(count: 1, height: 4, width: 4, parameters: .rotate(radians: [.nan])) }
                == .nonFinite)
    }
}
