import ASTCore

/// Finite-difference checks of first and second derivatives, in Double.
///
/// The op under test f(inputs) is reduced to a scalar L = Σ r ⊙ f with fixed random weights r.
/// First order: ∂L/∂input (autodiff) against central differences of L.
/// Second order: h = Σ_i ⟨∂L/∂input_i, v_i⟩ built with `createGraph`; ∂h/∂input (double
/// backward) against central differences of h, where h itself is evaluated by first-order autodiff.
public struct GradientCheckResult: CustomStringConvertible {
    /// max |autodiff − finite difference| / (max |finite difference| + 1e-8), per order.
    public var firstOrder: Double
    public var secondOrder: Double
    public var description: String { "first-order error \(firstOrder), second-order error \(secondOrder)" }
}

public func checkGradients(
    inputs: [Tensor<Double>], seed: UInt64 = 7, epsilon: Double = 1e-6,
    _ f: ([Tensor<Double>]) throws -> Tensor<Double>
) throws -> GradientCheckResult {
    var rng = SeededGenerator(seed: seed)
    let probe = try f(inputs)
    let weights = try Tensor<Double>(shape: probe.shape, scalars: (0..<probe.count).map { _ in rng.nextNormal() })
    let directions = try inputs.map { x in
        try Tensor<Double>(shape: x.shape, scalars: (0..<x.count).map { _ in rng.nextNormal() })
    }

    func scalarLoss(_ xs: [Tensor<Double>]) throws -> Tensor<Double> {
        let y = try f(xs)
        return try y.dot(weights.reshaped(y.shape))
    }
    /// h(x) = Σ ⟨∇L(x), v⟩; with `graph` it stays differentiable.
    func directional(_ xs: [Tensor<Double>], graph: Bool) throws -> Tensor<Double> {
        let vars = xs.map { $0.requiresGrad ? $0 : $0.variable() }
        let grads = try gradients(of: scalarLoss(vars), wrt: vars, createGraph: graph)
        var h = try grads[0].dot(directions[0])
        for i in 1..<grads.count { h = try h.adding(grads[i].dot(directions[i])) }
        return h
    }
    func perturbed(_ xs: [Tensor<Double>], _ i: Int, _ k: Int, _ delta: Double) throws -> [Tensor<Double>] {
        var values = xs[i].scalars
        values[k] += delta
        var copy = xs.map { $0.detached() }
        copy[i] = try Tensor<Double>(shape: xs[i].shape, scalars: values)
        return copy
    }
    func compare(_ analytic: [Tensor<Double>], _ value: ([Tensor<Double>]) throws -> Double) throws -> Double {
        var worst = 0.0, scale = 0.0
        for (i, x) in inputs.enumerated() {
            let a = analytic[i].scalars
            for k in 0..<x.count {
                let fd =
                    (try value(perturbed(inputs, i, k, epsilon)) - value(perturbed(inputs, i, k, -epsilon)))
                    / (2 * epsilon)
                worst = max(worst, abs(a[k] - fd))
                scale = max(scale, abs(fd))
            }
        }
        return worst / (scale + 1e-8)
    }

    let vars = inputs.map { $0.variable() }
    let first = try gradients(of: scalarLoss(vars), wrt: vars)
    let firstError = try compare(first) { try scalarLoss($0).item }

    let vars2 = inputs.map { $0.variable() }
    let h = try directional(vars2, graph: true)
    let second: [Tensor<Double>]
    if h.requiresGrad {
        second = try gradients(of: h, wrt: vars2)
    } else {
        second = try inputs.map { try Tensor<Double>.zeros($0.shape) }
    }
    let secondError = try compare(second) { try directional($0, graph: false).item }
    return GradientCheckResult(firstOrder: firstError, secondOrder: secondError)
}

/// A tensor of standard-normal values (optionally shifted) from a seeded generator.
public func randomTensor(_ shape: [Int], seed: UInt64, scale: Double = 1, offset: Double = 0) -> Tensor<Double> {
    var rng = SeededGenerator(seed: seed)
    let n = shape.reduce(1, *)
    // Shapes in tests are valid, so construction cannot fail.
    return (try? Tensor<Double>(shape: shape, scalars: (0..<n).map { _ in offset + scale * rng.nextNormal() }))!
}
