import ASTCore
#if canImport(Glibc)
import Glibc
#endif

/// DSA, "differentiable Siamese augmentation" (Zhao & Bilen 2021), as MTT uses it: strategy
/// color_crop_cutout_flip_scale_rotate in single mode ('S'). Each call picks ONE group
/// uniformly and draws that group's parameters independently per sample:
///
/// - color: brightness x + (u − 0.5)·1, then saturation (x − mean_C)·(2u) + mean_C, then
///   contrast (x − mean_CHW)·(u + 0.5) + mean_CHW (three fresh u per sample);
/// - crop: integer shifts tx ∈ [−s_H, s_H] (rows), ty ∈ [−s_W, s_W] (columns),
///   s = Int(0.125·size + 0.5); out[i, j] = x[i + tx, j + ty], zero outside;
/// - cutout: a side = Int(0.5·size + 0.5) rectangle zeroed at offsets o_H ∈ [0, H + 1 − side % 2),
///   o_W likewise, covering rows o_H − side/2 ..< o_H − side/2 + side, clipped to the image;
/// - flip: left-right with probability 0.5;
/// - scale: affine [[sx, 0, 0], [0, sy, 0]], sx, sy ~ U(1/1.2, 1.2);
/// - rotate: affine [[cos θ, −sin θ, 0], [sin θ, cos θ, 0]], θ ~ U(−15°, 15°) (the reference
///   code's matrix, `torch.sin(-theta)` in the first row);
/// scale and rotate resample as PyTorch affine_grid + grid_sample (bilinear, zero padding,
/// align_corners = true).
///
/// Every map is affine in the image, so `apply` is differentiable with respect to it to any
/// order. Drawing and applying are separate: a draw is a value that can be kept and replayed
/// (the distillation backward pass re-applies each inner step's draw).

/// One augmentation group of the DSA strategy string.
public enum AugmentationGroup: String, CaseIterable, Sendable {
    case color, crop, cutout, flip, scale, rotate
}

/// The outcome of one DSA draw for a batch: the chosen group and every per-sample parameter.
/// Applying the same draw twice gives identical results.
public struct AugmentationDraw: Sendable, Equatable {
    /// Per-sample parameters of the chosen group (arrays of length `count`).
    public enum Parameters: Sendable, Equatable {
        /// No augmentation (strategy "none").
        case identity
        /// Brightness shift b, saturation factor s, contrast factor c.
        case color(brightness: [Double], saturation: [Double], contrast: [Double])
        /// out[i, j] = x[i + rowShift, j + columnShift], zero outside.
        case crop(rowShift: [Int], columnShift: [Int])
        /// Rows top ..< top + height and columns left ..< left + width zeroed (clipped).
        case cutout(top: [Int], left: [Int], height: Int, width: Int)
        /// Mirror left-right where true.
        case flip([Bool])
        /// Affine [[x, 0, 0], [0, y, 0]].
        case scale(x: [Double], y: [Double])
        /// Affine [[cos θ, −sin θ, 0], [sin θ, cos θ, 0]], θ in radians.
        case rotate(radians: [Double])
    }

    public let count: Int
    public let height: Int
    public let width: Int
    public let parameters: Parameters

    /// The group drawn, nil for the identity.
    public var group: AugmentationGroup? {
        switch parameters {
        case .identity: nil
        case .color: .color
        case .crop: .crop
        case .cutout: .cutout
        case .flip: .flip
        case .scale: .scale
        case .rotate: .rotate
        }
    }

    /// A draw for `count` images of `height` x `width`; checks every array has `count` finite entries.
    public init(count: Int, height: Int, width: Int, parameters: Parameters) throws(ASTError) {
        guard count >= 0, height >= 1, width >= 1 else {
            throw .invalid(
                "augmentation draw: count \(count), height \(height), width \(width) (want count ≥ 0, sizes ≥ 1)")
        }
        func check(_ name: String, _ n: Int) throws(ASTError) {
            guard n == count else { throw .shape("augmentation draw: \(name) has \(n) values for \(count) samples") }
        }
        func checkFinite(_ name: String, _ values: [Double]) throws(ASTError) {
            try check(name, values.count)
            if let k = values.firstIndex(where: { !$0.isFinite }) {
                throw ASTError(.nonFinite, "augmentation draw: \(name)[\(k)] is \(values[k])")
            }
        }
        switch parameters {
        case .identity:
            break
        case let .color(b, s, c):
            try checkFinite("brightness", b); try checkFinite("saturation", s); try checkFinite("contrast", c)
        case let .crop(r, q):
            try check("rowShift", r.count); try check("columnShift", q.count)
        case let .cutout(t, l, h, w):
            try check("top", t.count); try check("left", l.count)
            guard h >= 0, w >= 0 else { throw .invalid("augmentation draw: cutout size \(h)x\(w) is negative") }
        case let .flip(f):
            try check("flip", f.count)
        case let .scale(x, y):
            try checkFinite("scale x", x); try checkFinite("scale y", y)
        case let .rotate(a):
            try checkFinite("rotation", a)
        }
        self.count = count
        self.height = height
        self.width = width
        self.parameters = parameters
    }

    /// Identity draw of the given batch geometry (no validation needed: nothing to check).
    init(identityFor count: Int, height: Int, width: Int) {
        self.count = count
        self.height = height
        self.width = width
        parameters = .identity
    }

    init(unchecked count: Int, height: Int, width: Int, parameters: Parameters) {
        self.count = count
        self.height = height
        self.width = width
        self.parameters = parameters
    }
}

/// Differentiable Siamese augmentation with a strategy (the groups one is picked from) and
/// the ratios of the reference code.
public struct DSA: Sendable, Equatable {
    /// Magnitudes; the defaults are the reference `ParamDiffAug`.
    public struct Options: Sendable, Equatable {
        /// Probability of mirroring a sample (flip group).
        public var flipProbability = 0.5
        /// sx, sy ~ U(1/ratio, ratio) (scale group); ≥ 1.
        public var scaleRatio = 1.2
        /// θ ~ U(−degrees, degrees) (rotate group).
        public var rotationDegrees = 15.0
        /// Maximal crop shift as a fraction of the side: s = Int(ratio·side + 0.5).
        public var cropPadRatio = 0.125
        /// Cutout side as a fraction of the image side: Int(ratio·side + 0.5).
        public var cutoutRatio = 0.5
        /// Brightness shift (u − 0.5)·brightness.
        public var brightness = 1.0
        /// Saturation factor u·saturation.
        public var saturation = 2.0
        /// Contrast factor u + contrast.
        public var contrast = 0.5

        public init() {}

        public func validate() throws(ASTError) {
            let all: [(String, Double)] = [
                ("flipProbability", flipProbability), ("scaleRatio", scaleRatio),
                ("rotationDegrees", rotationDegrees), ("cropPadRatio", cropPadRatio),
                ("cutoutRatio", cutoutRatio), ("brightness", brightness),
                ("saturation", saturation), ("contrast", contrast)
            ]
            for (name, v) in all where !v.isFinite {
                throw ASTError(.nonFinite, "DSA options: \(name) is \(v)")
            }
            guard (0...1).contains(flipProbability) else {
                throw .invalid("DSA options: flipProbability \(flipProbability) is outside [0, 1]")
            }
            guard scaleRatio >= 1 else { throw .invalid("DSA options: scaleRatio \(scaleRatio) must be ≥ 1") }
            guard rotationDegrees >= 0 else {
                throw .invalid("DSA options: rotationDegrees \(rotationDegrees) must be ≥ 0")
            }
            guard (0...1).contains(cropPadRatio) else {
                throw .invalid("DSA options: cropPadRatio \(cropPadRatio) is outside [0, 1]")
            }
            guard (0...1).contains(cutoutRatio) else {
                throw .invalid("DSA options: cutoutRatio \(cutoutRatio) is outside [0, 1]")
            }
            guard brightness >= 0, saturation >= 0, contrast >= 0 else {
                throw .invalid("DSA options: brightness, saturation and contrast must be ≥ 0")
            }
        }
    }

    /// The full strategy of MTT and AST.
    public static let defaultStrategy = "color_crop_cutout_flip_scale_rotate"

    /// The groups one is drawn from, uniformly (a repeated group counts twice); empty = none.
    public let groups: [AugmentationGroup]
    public let options: Options

    public init(groups: [AugmentationGroup], options: Options = Options()) throws(ASTError) {
        try options.validate()
        self.groups = groups
        self.options = options
    }

    /// `strategy`: group names joined by "_" (e.g. "crop_flip"), or "none" / "" for no augmentation.
    public init(strategy: String = DSA.defaultStrategy, options: Options = Options()) throws(ASTError) {
        try self.init(groups: Self.parse(strategy), options: options)
    }

    /// The groups of a strategy string.
    public static func parse(_ strategy: String) throws(ASTError) -> [AugmentationGroup] {
        if strategy.isEmpty || strategy.lowercased() == "none" { return [] }
        var groups: [AugmentationGroup] = []
        for name in strategy.split(separator: "_", omittingEmptySubsequences: false) {
            guard let g = AugmentationGroup(rawValue: String(name)) else {
                let known = AugmentationGroup.allCases.map(\.rawValue).joined(separator: ", ")
                throw .invalid("DSA strategy \"\(strategy)\": unknown group \"\(name)\" (known: \(known), or none)")
            }
            groups.append(g)
        }
        return groups
    }

    /// The strategy string of `groups` ("none" when empty).
    public var strategy: String { groups.isEmpty ? "none" : groups.map(\.rawValue).joined(separator: "_") }

    // MARK: Drawing

    /// Draws a group and its per-sample parameters for `count` images of `height` x `width`,
    /// consuming the generator in the reference order (group, then each parameter array in turn).
    /// Negative sizes are taken as 0 / 1 (`apply` then rejects any tensor they do not match).
    public func draw<G: RandomNumberGenerator>(
        count: Int, height: Int, width: Int,
        using generator: inout G
    ) -> AugmentationDraw {
        let (n, h, w) = (max(count, 0), max(height, 1), max(width, 1))
        guard !groups.isEmpty else { return AugmentationDraw(identityFor: n, height: h, width: w) }
        let group = groups[generator.nextIndex(below: groups.count)]
        func uniforms() -> [Double] { (0..<n).map { _ in generator.nextUnitUniform() } }
        let parameters: AugmentationDraw.Parameters
        switch group {
        case .color:
            let b = uniforms().map { ($0 - 0.5) * options.brightness }
            let s = uniforms().map { $0 * options.saturation }
            let c = uniforms().map { $0 + options.contrast }
            parameters = .color(brightness: b, saturation: s, contrast: c)
        case .crop:
            let sh = Int(Double(h) * options.cropPadRatio + 0.5), sw = Int(Double(w) * options.cropPadRatio + 0.5)
            let r = (0..<n).map { _ in generator.nextIndex(below: 2 * sh + 1) - sh }
            let q = (0..<n).map { _ in generator.nextIndex(below: 2 * sw + 1) - sw }
            parameters = .crop(rowShift: r, columnShift: q)
        case .cutout:
            let ch = Int(Double(h) * options.cutoutRatio + 0.5), cw = Int(Double(w) * options.cutoutRatio + 0.5)
            let top = (0..<n).map { _ in generator.nextIndex(below: h + 1 - ch % 2) - ch / 2 }
            let left = (0..<n).map { _ in generator.nextIndex(below: w + 1 - cw % 2) - cw / 2 }
            parameters = .cutout(top: top, left: left, height: ch, width: cw)
        case .flip:
            parameters = .flip(uniforms().map { $0 < options.flipProbability })
        case .scale:
            let r = options.scaleRatio
            let sx = uniforms().map { $0 * (r - 1 / r) + 1 / r }
            let sy = uniforms().map { $0 * (r - 1 / r) + 1 / r }
            parameters = .scale(x: sx, y: sy)
        case .rotate:
            let limit = options.rotationDegrees / 180 * Double.pi
            parameters = .rotate(radians: uniforms().map { ($0 - 0.5) * 2 * limit })
        }
        return AugmentationDraw(unchecked: n, height: h, width: w, parameters: parameters)
    }

    // MARK: Applying

    /// `draw` applied to images x (N, C, H, W) matching the draw's count and size.
    /// Differentiable with respect to x (any order).
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    public func apply<S>(_ draw: AugmentationDraw, to x: Tensor<S>) throws(ASTError) -> Tensor<S> {
        try Self.check(draw, x, "DSA apply")
        return Self.applyUnchecked(draw, x, adjoint: false)
    }

    /// The adjoint (transpose) of the linear part of `draw` applied to g (N, C, H, W): the
    /// map that carries a gradient with respect to the augmented images back to the images.
    /// (Color's brightness shift is the affine part and is dropped.)
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    public func applyAdjoint<S>(_ draw: AugmentationDraw, to g: Tensor<S>) throws(ASTError) -> Tensor<S> {
        try Self.check(draw, g, "DSA applyAdjoint")
        return Self.applyUnchecked(draw, g, adjoint: true)
    }

    /// Draws with the generator, then applies: x (N, C, H, W) -> augmented x.
    public func augment<S, G: RandomNumberGenerator>(
        _ x: Tensor<S>, using generator: inout G
    ) throws(ASTError) -> Tensor<S> {
        guard x.rank == 4 else { throw .shape("DSA augment: images must be (N, C, H, W), got \(x.shape)") }
        let d = draw(count: x.shape[0], height: x.shape[2], width: x.shape[3], using: &generator)
        return try apply(d, to: x)
    }

    private static func check<S>(_ draw: AugmentationDraw, _ x: Tensor<S>, _ op: String) throws(ASTError) {
        guard x.rank == 4, x.shape[1] >= 1 else { throw .shape("\(op): images must be (N, C≥1, H, W), got \(x.shape)") }
        guard x.shape[0] == draw.count, x.shape[2] == draw.height, x.shape[3] == draw.width else {
            throw .shape(
                "\(op): images \(x.shape) do not match a draw for \(draw.count) images of \(draw.height)x\(draw.width)")
        }
    }

    private static func applyUnchecked<S>(_ draw: AugmentationDraw, _ x: Tensor<S>, adjoint: Bool) -> Tensor<S> {
        switch draw.parameters {
        case .identity:
            return x
        case let .color(b, s, c):
            return colorJitterUnchecked(
                x, brightness: adjoint ? nil : b.map { S($0) },
                saturation: s.map { S($0) }, contrast: c.map { S($0) })
        case let .crop(r, q):
            return adjoint
                ? translateUnchecked(x, rowShift: r.map { -$0 }, columnShift: q.map { -$0 })
                : translateUnchecked(x, rowShift: r, columnShift: q)
        case let .cutout(top, left, h, w):
            return cutoutUnchecked(x, top: top, left: left, height: h, width: w)
        case let .flip(f):
            return flipUnchecked(x, flipped: f)
        case let .scale(sx, sy):
            let plan = AffineSamplingPlan<S>(
                thetas: zip(sx, sy).map { [$0, 0, 0, 0, $1, 0] },
                height: draw.height, width: draw.width)
            return adjoint ? affineSampleTransposeUnchecked(x, plan) : affineSampleUnchecked(x, plan)
        case let .rotate(angles):
            let plan = AffineSamplingPlan<S>(
                thetas: angles.map { a in [cos(a), -sin(a), 0, sin(a), cos(a), 0] },
                height: draw.height, width: draw.width)
            return adjoint ? affineSampleTransposeUnchecked(x, plan) : affineSampleUnchecked(x, plan)
        }
    }
}

extension RandomNumberGenerator {
    /// Uniform in [0, 1) from 53 random bits (the same value `SeededGenerator.nextUniform` gives).
    fileprivate mutating func nextUnitUniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }
    /// Uniform in 0..<bound, bound > 0 (the same value `SeededGenerator.nextInt(below:)` gives).
    fileprivate mutating func nextIndex(below bound: Int) -> Int { Int(next(upperBound: UInt64(bound))) }
}
