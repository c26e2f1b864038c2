/// Instance norm (GroupNorm with one group per channel) and training-mode batch norm, composed
/// from differentiable ops so their second derivatives come for free.

package let normEpsilon = 1e-5

/// (x − mean) / sqrt(var + eps) over `axes` (biased variance), then per-channel affine.
@_specialize(where S == Float)
@_specialize(where S == Double)
package func standardizeUnchecked<S>(_ x: Tensor<S>, axes: [Int], gamma: Tensor<S>?, beta: Tensor<S>?) -> Tensor<S> {
    let mean = meanUnchecked(x, axes: axes, keepDims: true)
    let centered = subUnchecked(x, mean)
    let variance = meanUnchecked(mulUnchecked(centered, centered), axes: axes, keepDims: true)
    let inverseStd = unaryUnchecked(.rsqrt, shiftUnchecked(variance, S(normEpsilon)))
    let normalized = mulUnchecked(centered, inverseStd)
    if gamma == nil && beta == nil { return normalized }
    return channelAffineUnchecked(normalized, scale: gamma, shift: beta)
}

extension Tensor {
    /// Per sample and channel over H×W, eps 1e-5, affine gamma/beta (C) — MTT's "instancenorm".
    public func instanceNorm(gamma: Tensor?, beta: Tensor?) throws(ASTError) -> Tensor {
        try checkNormArguments("instanceNorm", gamma, beta)
        return standardizeUnchecked(self, axes: [2, 3], gamma: gamma, beta: beta)
    }

    /// Training-mode batch norm: statistics over N×H×W per channel, eps 1e-5, affine.
    public func batchNorm(gamma: Tensor?, beta: Tensor?) throws(ASTError) -> Tensor {
        try checkNormArguments("batchNorm", gamma, beta)
        return standardizeUnchecked(self, axes: [0, 2, 3], gamma: gamma, beta: beta)
    }

    fileprivate func checkNormArguments(_ op: String, _ gamma: Tensor?, _ beta: Tensor?) throws(ASTError) {
        guard rank == 4 else { throw .shape("\(op): input must be (N, C, H, W), got \(shape)") }
        for (name, t) in [("gamma", gamma), ("beta", beta)] {
            if let t, t.shape != [shape[1]] { throw .shape("\(op): \(name) \(t.shape) does not match input \(shape)") }
        }
    }
}

/// relu(instanceNorm(x + bias) · γ + β), fused: one pass over each (n, c) plane forward and one
/// backward, instead of ~10 full-tensor passes. The bias cancels in the normalisation (its
/// gradient is exactly 0). The backward is three fused ops (dx, dγ, dβ), computed in one sweep,
/// whose own rules are hand-derived fused kernels, so Hessian-vector products stay fast; third
/// derivatives fall back to differentiating the composed reference. Each plane's mean and 1/σ
/// are computed once, by the forward, and kept for every backward op (two passes over x each).
// x: (N, C, H, W), bias/gamma/beta: (C) -> (N, C, H, W)
@_specialize(where S == Float)
@_specialize(where S == Double)
package func normReluUnchecked<S>(_ x: Tensor<S>, bias: Tensor<S>, gamma: Tensor<S>, beta: Tensor<S>) -> Tensor<S> {
    let plane = x.shape[2] * x.shape[3]
    let out = TensorStorage<S>(uninitializedCount: x.count)
    let moments = TensorStorage<S>(uninitializedCount: 2 * x.shape[0] * x.shape[1])
    let dst = out.base
    forEachPlane(x, gamma, beta, moments: .record(moments)) { p, ctx, _, _, _ in
        ctx.affine.relu(ctx.x, dst + p * plane, plane)
    }
    return makeResult(x.shape, out, "normRelu", [x, bias, gamma, beta]) { grad, inputs, _, needs in
        normReluBackward(grad, pooled: false, inputs, needs, moments)
    }
}

/// normRelu's rule (normReluPool's when `pooled`): the gradients with respect to (x, bias, γ, β)
/// for incoming gradient g.
@_specialize(where S == Float)
@_specialize(where S == Double)
private func normReluBackward<S>(
    _ g: Tensor<S>, pooled: Bool, _ inputs: [Tensor<S>], _ needs: [Bool], _ moments: TensorStorage<S>
) -> [Tensor<S>?] {
    let (x, gamma, beta) = (inputs[0], inputs[2], inputs[3])
    let (dx, dgamma, dbeta) = normReluGradients(
        g, pooled: pooled, x, gamma, beta, moments: moments, input: needs[0], gamma: needs[2], beta: needs[3])
    return [
        dx, needs[1] ? Tensor(shape: [x.shape[1]], storage: TensorStorage(zeros: x.shape[1])) : nil, dgamma, dbeta
    ]
}

/// avgPool2x2(normRelu(x + bias)), the ConvNet's norm → ReLU → pool, with the 2×2 windows
/// averaged as the ReLU's values are made: the full-size activation is never written or read
/// back (it is not needed: the backward of the pooling does not read its input). Its backward
/// ops take the pooled gradient and spread it over the windows plane by plane, so neither the
/// full-size gradient nor its adjoint is made either. Every op gives the bits the two ops give at
/// first and second order (where several paths meet, their sums may be added in another order);
/// third derivatives, through the composed reference, agree within rounding.
// x: (N, C, H, W), bias/gamma/beta: (C) -> (N, C, H/2, W/2)
@_specialize(where S == Float)
@_specialize(where S == Double)
package func normReluPoolUnchecked<S>(_ x: Tensor<S>, bias: Tensor<S>, gamma: Tensor<S>, beta: Tensor<S>) -> Tensor<S> {
    let (h, w) = (x.shape[2], x.shape[3])
    let (ho, wo, plane) = (h / 2, w / 2, h * w)
    let out = TensorStorage<S>(uninitializedCount: x.shape[0] * x.shape[1] * ho * wo)
    let moments = TensorStorage<S>(uninitializedCount: 2 * x.shape[0] * x.shape[1])
    let dst = out.base
    // normRelu's ReLU runs in whole vectors up to the plane's last multiple of 4, then scalar
    // (they differ for −0 and NaN): each element here takes the form it takes there.
    let vectorEnd = plane & ~3
    forEachPlane(x, gamma, beta, moments: .record(moments)) { p, ctx, _, _, _ in
        let affine = ctx.affine
        @inline(__always) func relu4(_ k: Int) -> Lanes<S> { affine.reluLanes(ctx.x, k) }
        @inline(__always) func relu(_ k: Int) -> S {
            k < vectorEnd ? affine.reluLanes(ctx.x, k & ~3)[k & 3] : affine.reluTail(ctx.x[k])
        }
        let d = dst + p * ho * wo
        for oy in 0..<ho {
            let (k0, k1) = (2 * oy * w, (2 * oy + 1) * w)
            let out = d + oy * wo
            var ox = 0
            if k1 + 2 * wo <= vectorEnd {
                while ox + 4 <= wo {  // 4 windows a round, as avgPool sums them
                    let (i, j) = (k0 + 2 * ox, k1 + 2 * ox)
                    let r0 = SIMD8(lowHalf: relu4(i), highHalf: relu4(i + 4))
                    let r1 = SIMD8(lowHalf: relu4(j), highHalf: relu4(j + 4))
                    storeLanes((((r0.evenHalf + r0.oddHalf) + r1.evenHalf) + r1.oddHalf) * 0.25, out, ox)
                    ox += 4
                }
            }
            while ox < wo {
                let (i, j) = (k0 + 2 * ox, k1 + 2 * ox)
                out[ox] = (relu(i) + relu(i + 1) + relu(j) + relu(j + 1)) * 0.25
                ox += 1
            }
        }
    }
    return makeResult([x.shape[0], x.shape[1], ho, wo], out, "normReluPool", [x, bias, gamma, beta]) {
        grad, inputs, _, needs in
        normReluBackward(grad, pooled: true, inputs, needs, moments)
    }
}

/// Per-plane quantities of the fused norm: x̂ = (x − μ)·s, z = γx̂ + β, mask z > 0.
struct NormPlane<S: TensorScalar> {
    let x: UnsafePointer<S>
    let mean: S, inverseStd: S, gamma: S, beta: S, size: Int
    @inline(__always) func xhat(_ i: Int) -> S { (x[i] - mean) * inverseStd }
    @inline(__always) func z(_ i: Int) -> S { xhat(i) * gamma + beta }
    @inline(__always) func active(_ i: Int) -> Bool { z(i) > 0 }
    var affine: PlaneAffine<S> { PlaneAffine(mean: mean, scale: gamma * inverseStd, shift: beta) }
    /// Σ a[i] and Σ a[i]·x̂[i].
    @inline(__always) func sums(_ a: UnsafePointer<S>) -> (S, S) {
        let (sum, dot) = blockSumAndDot(a, x, size, shift: mean)
        return (sum, dot * inverseStd)
    }
    /// body(i, x̂, z > 0) for lanes i…i+3 of the plane, then scalar(i, x̂_i, z_i > 0) for the
    /// tail; z > 0 as `PlaneAffine.mask` decides it.
    @inline(__always) func forEachLane(
        _ body: (Int, Lanes<S>, SIMDMask<Lanes<S>.MaskStorage>) -> Void, scalar: (Int, S, Bool) -> Void
    ) {
        let affine = affine
        let (m, s, a, b) = (
            Lanes<S>(repeating: mean), Lanes<S>(repeating: inverseStd), Lanes<S>(repeating: affine.scale),
            Lanes<S>(repeating: affine.shift)
        )
        var i = 0
        while i + 4 <= size {
            let centered = loadLanes(x, i) - m
            body(i, centered * s, .!(centered * a + b .<= Lanes<S>()))
            i += 4
        }
        while i < size {
            scalar(i, xhat(i), affine.isActive(x[i]))
            i += 1
        }
    }
    /// w = g ⊙ (z > 0) written to w, and `sums(w)`, in one pass.
    @inline(__always) func maskAndSums(_ g: UnsafePointer<S>, into w: UnsafeMutablePointer<S>) -> (S, S) {
        let (sum, dot) = affine.maskAndSums(x, g, w, size)
        return (sum, dot * inverseStd)
    }
    /// P(a) = a − mean(a) − x̂·mean(a ⊙ x̂), times k, written to out (may alias a), given
    /// `sums(a)`.
    @inline(__always) func project(
        _ a: UnsafePointer<S>, sums: (S, S), times k: S, into out: UnsafeMutablePointer<S>
    ) {
        let (sa, sax) = sums
        projectPlane(
            a, x, size, mean: mean, inverseStd: inverseStd, meanA: sa / S(size), meanAXhat: sax / S(size),
            times: k, into: out)
    }
}

/// Where forEachPlane gets each plane's mean and 1/σ: computed (and written, as pairs, to
/// `record`'s storage) or read from a storage an earlier `record` filled.
enum PlaneMomentSource<S: TensorScalar> {
    case compute
    case record(TensorStorage<S>)
    case stored(TensorStorage<S>)
}

/// Calls body(planeIndex, plane, scratchA, scratchB, scratchC) for every (n, c) plane of x,
/// planes split across threads; each thread gets three scratch blocks of one plane.
@inline(__always)
private func forEachPlane<S>(
    _ x: Tensor<S>, _ gamma: Tensor<S>, _ beta: Tensor<S>, moments: PlaneMomentSource<S> = .compute,
    _ body: (Int, NormPlane<S>, UnsafeMutablePointer<S>, UnsafeMutablePointer<S>, UnsafeMutablePointer<S>) -> Void
) {
    let (c, plane) = (x.shape[1], x.shape[2] * x.shape[3])
    let eps = S(normEpsilon)
    let (xs, gs, bs) = (x.storage.base, gamma.storage.base, beta.storage.base)
    Parallel.forRanges(x.shape[0] * c, minimumPerThread: max(1, 16_384 / max(plane, 1))) { planes in
        let scratch = TensorStorage<S>(uninitializedCount: 3 * plane)
        for p in planes {
            let xp = UnsafePointer(xs + p * plane)
            let mean: S, inverseStd: S
            switch moments {
            case .stored(let m):
                (mean, inverseStd) = (m.base[2 * p], m.base[2 * p + 1])
            case .compute, .record:
                let (mu, variance) = planeMoments(xp, plane)
                (mean, inverseStd) = (mu, 1 / (variance + eps).squareRoot())
                if case .record(let m) = moments { (m.base[2 * p], m.base[2 * p + 1]) = (mean, inverseStd) }
            }
            body(
                p,
                NormPlane(
                    x: xp, mean: mean, inverseStd: inverseStd, gamma: gs[p % c], beta: bs[p % c], size: plane),
                scratch.base, scratch.base + plane, scratch.base + 2 * plane)
        }
    }
}

/// Per-plane values summed into per-channel totals: planes (N·C) -> (C).
private func channelTotals<S: TensorScalar>(_ perPlane: TensorStorage<S>, channels c: Int) -> TensorStorage<S> {
    let out = TensorStorage<S>(zeros: c)
    for p in 0..<perPlane.count { out.base[p % c] += perPlane.base[p] }
    return out
}

package enum NormReluGradient { case input, gamma, beta }

/// The backward of normRelu for incoming gradient g, with w = g ⊙ mask:
/// .input: dx = γs·P(w) (x-shaped); .gamma: Σ w ⊙ x̂ per channel; .beta: Σ w per channel.
// g, x: (N, C, H, W), gamma/beta: (C) -> (N, C, H, W) or (C)
@_specialize(where S == Float)
@_specialize(where S == Double)
package func normReluGradUnchecked<S>(
    _ which: NormReluGradient, _ g: Tensor<S>, _ x: Tensor<S>,
    _ gamma: Tensor<S>, _ beta: Tensor<S>
) -> Tensor<S> {
    let moments = TensorStorage<S>(uninitializedCount: 2 * x.shape[0] * x.shape[1])
    forEachPlane(x, gamma, beta, moments: .record(moments)) { _, _, _, _, _ in }
    let (dx, dgamma, dbeta) = normReluGradients(
        g, pooled: false, x, gamma, beta, moments: moments, input: which == .input, gamma: which == .gamma,
        beta: which == .beta)
    // Exactly the one asked for is non-nil.
    return (dx ?? dgamma ?? dbeta)!
}

/// The gradients of normRelu that are asked for (dx, dγ, dβ; see normReluGradUnchecked), in one
/// sweep over the planes: the mask and Σw, Σw·x̂ are shared; `moments` are the forward's. When
/// `pooled`, g is the gradient of normReluPool's output, read as its spread over the windows.
// g: (N, C, H, W) or pooled (N, C, H/2, W/2), x: (N, C, H, W), gamma/beta: (C), moments: (N·C·2)
//   -> (N, C, H, W), (C), (C)
@_specialize(where S == Float)
@_specialize(where S == Double)
private func normReluGradients<S>(
    _ g: Tensor<S>, pooled: Bool, _ x: Tensor<S>, _ gamma: Tensor<S>, _ beta: Tensor<S>, moments: TensorStorage<S>,
    input: Bool, gamma wantGamma: Bool, beta wantBeta: Bool
) -> (Tensor<S>?, Tensor<S>?, Tensor<S>?) {
    let (planes, plane) = (x.shape[0] * x.shape[1], x.shape[2] * x.shape[3])
    let gradient = GradientPlanes(g, pooled: pooled, x)
    // dx is x-shaped; dγ and dβ one partial sum per plane, totalled per channel below.
    let dx = input ? TensorStorage<S>(uninitializedCount: x.count) : nil
    let dgamma = wantGamma ? TensorStorage<S>(uninitializedCount: planes) : nil
    let dbeta = wantBeta ? TensorStorage<S>(uninitializedCount: planes) : nil
    forEachPlane(x, gamma, beta, moments: .stored(moments)) { p, ctx, w, _, spare in
        let gp = gradient.plane(p, spreadInto: spare)
        if input || wantGamma {
            let (sw, swx) = ctx.maskAndSums(gp, into: w)
            if let dx {
                projectPlane(
                    w, ctx.x, plane, mean: ctx.mean, inverseStd: ctx.inverseStd, meanA: sw / S(plane),
                    meanAXhat: swx / S(plane), times: ctx.gamma * ctx.inverseStd, into: dx.base + p * plane)
            }
            if let dgamma { dgamma.base[p] = swx }
        } else {
            ctx.affine.mask(ctx.x, gp, w, plane)
        }
        if let dbeta { dbeta.base[p] = blockSum(w, plane) }
    }
    // Second-order passes take the three outputs' adjoints together (normReluGradsAdjoint).
    let siblings = SiblingOutputs<S> { u, inputs, needs in
        normReluGradsAdjoint(
            u[0], u[1], u[2], inputs[0], pooled: pooled, inputs[1], inputs[2], inputs[3], moments, needs)
    }
    func result(_ which: NormReluGradient, _ storage: TensorStorage<S>?) -> Tensor<S>? {
        guard let storage else { return nil }
        let c = x.shape[1]
        let out = which == .input ? storage : channelTotals(storage, channels: c)
        return makeResult(
            which == .input ? x.shape : [c], out, "normReluGrad", [g, x, gamma, beta], siblings: siblings
        ) { u, inputs, _, needs in
            if u.requiresGrad || inputs.contains(where: { $0.requiresGrad }) {
                return composedGradients(u, inputs, needs) {
                    let (h, w) = (x.shape[2], x.shape[3])
                    let g = pooled ? avgPoolGradUnchecked($0[0], height: h, width: w) : $0[0]
                    return normReluGradComposed(which, g, $0[1], $0[2], $0[3])
                }
            }
            return normReluGradsAdjoint(
                which == .input ? u : nil, which == .gamma ? u : nil, which == .beta ? u : nil,
                inputs[0], pooled: pooled, inputs[1], inputs[2], inputs[3], moments, needs)
        }
    }
    let results = (result(.input, dx), result(.gamma, dgamma), result(.beta, dbeta))
    siblings.bind([results.0, results.1, results.2])
    return results
}

/// The constant (hand-derived) adjoint of normReluGradients' three outputs, any of whose
/// adjoints may be nil (not reached): the first derivatives of ⟨u, dx⟩ + ⟨ū_γ, dγ⟩ + ⟨ū_β, dβ⟩
/// with respect to (g, x, γ, β), in one sweep (one mask, one P(w) for the input and γ terms) and
/// one ∂g and ∂x. With w = g ⊙ mask, c = mean(w x̂), W = Σuw − w̄·Σu, Ux = Σu x̂:
///   input, Φ = γs·Σ u (w − w̄ − x̂c): ∂w = γs·P(u);
///     ∂x = −γs²/m·[(W − c·Ux)·x̂ + Ux·P(w)] − γs²c·P(u);  ∂γ = s(W − c·Ux);
///   γ, Φ = ū_γ,c · Σ w x̂: ∂w = ū_γ,c·x̂;  ∂x = ū_γ,c·s·P(w);
///   β, Φ = ū_β,c · Σ w: ∂w = ū_β,c; nothing else.
/// ∂β is 0 (nil). When `pooled`, g is pooled (see normReluGradients) and so is ∂g: each plane's
/// ∂g is made at full size in scratch, then pooled (the spreading's adjoint).
// u, x: (N, C, H, W), g: as x or pooled, uGamma/uBeta/gamma/beta: (C), moments: (N·C·2)
//   -> g's shape, (N, C, H, W), (C), nil
@_specialize(where S == Float)
@_specialize(where S == Double)
private func normReluGradsAdjoint<S>(
    _ u: Tensor<S>?, _ uGamma: Tensor<S>?, _ uBeta: Tensor<S>?, _ g: Tensor<S>, pooled: Bool, _ x: Tensor<S>,
    _ gamma: Tensor<S>, _ beta: Tensor<S>, _ moments: TensorStorage<S>, _ needs: [Bool]
) -> [Tensor<S>?] {
    let (c, plane) = (x.shape[1], x.shape[2] * x.shape[3])
    let hasDx = u != nil || uGamma != nil  // ∂x and w: from the input and γ terms only
    let gradient = GradientPlanes(g, pooled: pooled, x)
    let dg = TensorStorage<S>(uninitializedCount: g.count)
    let dx = TensorStorage<S>(uninitializedCount: hasDx ? x.count : 0)
    let dgammaPerPlane = TensorStorage<S>(uninitializedCount: u != nil ? x.shape[0] * c : 0)
    let (dxs, dgam) = (dx.base, dgammaPerPlane.base)
    let (us, ugs, ubs) = (u?.storage.base, uGamma?.storage.base, uBeta?.storage.base)
    let m = S(plane)
    forEachPlane(x, gamma, beta, moments: .stored(moments)) { p, ctx, w, pw, spare in
        // ∂g's plane: dg's own, or (pooled) scratch that is pooled into dg at the end; g's
        // spread plane is read (into w) before it is written.
        let dgp = pooled ? spare : dg.base + p * plane
        let dxp = dxs + p * plane
        defer { if pooled { gradient.pool(spare, into: dg.base, plane: p) } }
        let s = ctx.inverseStd
        let (ug, ub) = (ugs.map { $0[p % c] } ?? 0, ubs.map { $0[p % c] } ?? 0)
        var wSums: (S, S) = (0, 0)
        if hasDx {
            wSums = ctx.maskAndSums(gradient.plane(p, spreadInto: spare), into: w)
            ctx.project(w, sums: wSums, times: 1, into: pw)  // P(w)
        }
        if let us {
            // The input term, plus the γ term's ū_γ·s·P(w) in ∂x and the γ and β terms'
            // ū_γ·x̂ + ū_β in ∂w (masked in the same loop, by the forward's z > 0).
            let up = us + p * plane
            let (sw, swx) = wSums
            let uSums = ctx.sums(up)
            let (su, sux) = uSums
            let wbar = sw / m, cw = swx / m
            let W = blockDot(up, w, plane, shift: 0) - wbar * su
            ctx.project(up, sums: uSums, times: 1, into: dgp)  // P(u)
            let k1 = -ctx.gamma * s * s / m, k2 = -ctx.gamma * s * s * cw, k3 = ug * s
            let (a, gammaS) = (W - cw * sux, ctx.gamma * s)
            ctx.forEachLane { i, xhat, active in
                let (pwi, dgi) = (loadLanes(pw, i), loadLanes(dgp, i))
                storeLanes(k1 * (a * xhat + sux * pwi) + k2 * dgi + k3 * pwi, dxp, i)
                storeLanes((gammaS * dgi + ug * xhat + ub).replacing(with: 0, where: .!active), dgp, i)
            } scalar: { i, xhat, active in
                dxp[i] = k1 * (a * xhat + sux * pw[i]) + k2 * dgp[i] + k3 * pw[i]
                dgp[i] = active ? gammaS * dgp[i] + ug * xhat + ub : 0
            }
            dgam[p] = s * (W - cw * sux)
        } else if hasDx {
            let k3 = ug * s
            ctx.forEachLane { i, xhat, active in
                storeLanes(k3 * loadLanes(pw, i), dxp, i)
                storeLanes((ug * xhat + ub).replacing(with: 0, where: .!active), dgp, i)
            } scalar: { i, xhat, active in
                dxp[i] = k3 * pw[i]
                dgp[i] = active ? ug * xhat + ub : 0
            }
        } else {
            ctx.affine.maskedConstant(ctx.x, ub, dgp, plane)
        }
    }
    return [
        needs[0] ? Tensor(shape: g.shape, storage: dg) : nil,
        needs[1] && hasDx ? Tensor(shape: x.shape, storage: dx) : nil,
        needs[2] && u != nil ? Tensor(shape: [c], storage: channelTotals(dgammaPerPlane, channels: c)) : nil,
        nil  // ∂β: 0
    ]
}

/// The incoming gradient of the norm's backward ops, plane by plane at x's size: g's own planes,
/// or (pooled) a pooled gradient's planes spread as avgPoolGrad spreads them.
private struct GradientPlanes<S: TensorScalar> {
    let base: UnsafePointer<S>
    let pooled: Bool, height: Int, width: Int

    init(_ g: Tensor<S>, pooled: Bool, _ x: Tensor<S>) {
        (base, self.pooled, height, width) = (UnsafePointer(g.storage.base), pooled, x.shape[2], x.shape[3])
    }

    /// The size of one of g's planes.
    var planeSize: Int { pooled ? (height / 2) * (width / 2) : height * width }

    /// Plane p at x's size: in g, or spread into `scratch` (one plane of x).
    @inline(__always) func plane(_ p: Int, spreadInto scratch: UnsafeMutablePointer<S>) -> UnsafePointer<S> {
        guard pooled else { return base + p * planeSize }
        avgPoolGradPlane(base + p * planeSize, height: height, width: width, into: scratch)
        return UnsafePointer(scratch)
    }

    /// A full-size plane's adjoint pooled into plane p of `out` (g-shaped).
    @inline(__always) func pool(_ full: UnsafePointer<S>, into out: UnsafeMutablePointer<S>, plane p: Int) {
        avgPoolPlane(full, height: height, width: width, into: out + p * planeSize)
    }
}

/// normReluGrad written with composed differentiable ops (the reference for third derivatives).
private func normReluGradComposed<S>(
    _ which: NormReluGradient, _ g: Tensor<S>, _ x: Tensor<S>,
    _ gamma: Tensor<S>, _ beta: Tensor<S>
) -> Tensor<S> {
    let c = x.shape[1]
    let channel = [1, c, 1, 1]
    let mean = meanUnchecked(x, axes: [2, 3], keepDims: true)
    let centered = subUnchecked(x, mean)
    let inverseStd = unaryUnchecked(
        .rsqrt,
        shiftUnchecked(meanUnchecked(mulUnchecked(centered, centered), axes: [2, 3], keepDims: true), S(normEpsilon)))
    let xhat = mulUnchecked(centered, inverseStd)
    let z = channelAffineUnchecked(xhat.detached(), scale: gamma.detached(), shift: beta.detached())
    let w = maskedUnchecked(g, by: z.storage)
    switch which {
    case .beta: return reshapeUnchecked(sumToUnchecked(w, channel), [c])
    case .gamma: return reshapeUnchecked(sumToUnchecked(mulUnchecked(w, xhat), channel), [c])
    case .input:
        let projected = subUnchecked(
            subUnchecked(w, meanUnchecked(w, axes: [2, 3], keepDims: true)),
            mulUnchecked(xhat, meanUnchecked(mulUnchecked(w, xhat), axes: [2, 3], keepDims: true)))
        return mulUnchecked(channelAffineUnchecked(projected, scale: gamma, shift: nil), inverseStd)
    }
}

/// Gradients of a composed reference `f` at `inputs` with seed `grad`, keeping the graph: the
/// differentiable rule of a fused op.
package func composedGradients<S>(
    _ grad: Tensor<S>, _ inputs: [Tensor<S>], _ needs: [Bool],
    _ f: ([Tensor<S>]) -> Tensor<S>
) -> [Tensor<S>?] {
    // Inputs that carry no graph become fresh leaves so they can be differentiated against.
    let leaves = inputs.map { $0.requiresGrad ? $0 : $0.variable() }
    let y = f(leaves)
    let targets = leaves.enumerated().filter { needs[$0.offset] }.map(\.element)
    // Shapes match by construction, so this cannot throw.
    guard let grads = try? gradients(of: y, wrt: targets, seed: grad, createGraph: true) else {
        return inputs.map { _ in nil }
    }
    var it = grads.makeIterator()
    return needs.map { $0 ? it.next() : nil }
}

extension Tensor {
    /// relu(instanceNorm(self + bias) · gamma + beta), fused (ConvNet's conv → norm → ReLU).
    public func instanceNormRelu(bias: Tensor, gamma: Tensor, beta: Tensor) throws(ASTError) -> Tensor {
        try checkNormArguments("instanceNormRelu", gamma, beta)
        guard bias.shape == [shape[1]] else {
            throw .shape("instanceNormRelu: bias \(bias.shape) does not match input \(shape)")
        }
        return normReluUnchecked(self, bias: bias, gamma: gamma, beta: beta)
    }
}
