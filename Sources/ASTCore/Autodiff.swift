/// Reverse-mode differentiation over the recorded graph. With `createGraph` the gradients are
/// themselves graph tensors, so they can be differentiated again (Hessian-vector products,
/// gradient penalties).

/// Gradients of `output` with respect to each tensor in `inputs`.
///
/// - Parameters:
///   - output: a scalar (one element), or any shape when `seed` (same shape) is given.
///   - inputs: tensors with `requiresGrad`; an input `output` does not depend on gets zeros.
///   - seed: the adjoint of `output`; default 1.
///   - createGraph: record the backward computation so its results can be differentiated.
@_specialize(where S == Float)
@_specialize(where S == Double)
public func gradients<S>(
    of output: Tensor<S>, wrt inputs: [Tensor<S>], seed: Tensor<S>? = nil,
    createGraph: Bool = false
) throws(ASTError) -> [Tensor<S>] {
    let seedTensor: Tensor<S>
    if let seed {
        guard seed.shape == output.shape else {
            throw .shape("gradients: seed shape \(seed.shape) differs from output shape \(output.shape)")
        }
        seedTensor = createGraph ? seed : seed.detached()
    } else {
        guard output.count == 1 else {
            throw .shape("gradients: output of shape \(output.shape) is not a scalar; pass a seed")
        }
        let one = TensorStorage<S>(uninitializedCount: 1)
        one.base.initialize(to: 1)
        seedTensor = Tensor(shape: output.shape, storage: one)
    }
    for (i, x) in inputs.enumerated() where !x.requiresGrad {
        throw .invalid("gradients: input \(i) (shape \(x.shape)) does not require gradients; make it with variable()")
    }

    // Nodes reachable from the output, inputs before outputs; then the subset that reaches a target.
    let order = topologicalOrder(from: output)
    let targets = Set(inputs.map(ObjectIdentifier.init))
    var relevant = Set<ObjectIdentifier>()
    for node in order {
        let id = ObjectIdentifier(node)
        if targets.contains(id) || (node.origin?.inputs.contains { relevant.contains(ObjectIdentifier($0)) } ?? false) {
            relevant.insert(id)
        }
    }

    // For sibling outputs (see SiblingOutputs): each node's place in `order`. Their joint rule
    // runs at the one the walk reaches last (the lowest place), when every one is complete (its
    // consumers all come after it) and their inputs (all before) not yet reached.
    var place: [ObjectIdentifier: Int] = [:]
    if !createGraph && order.contains(where: { $0.origin?.siblings != nil }) {
        for (i, node) in order.enumerated() where relevant.contains(ObjectIdentifier(node)) {
            place[ObjectIdentifier(node)] = i
        }
    }

    var adjoints: [ObjectIdentifier: Tensor<S>] = [:]
    // Adjoints of slices, per sliced tensor: assembled in one op when that tensor is reached
    // (all its consumers come later in `order`, so they have all been visited by then).
    var slicePieces: [ObjectIdentifier: [(offset: Int, gradient: Tensor<S>)]] = [:]
    if relevant.contains(ObjectIdentifier(output)) { adjoints[ObjectIdentifier(output)] = seedTensor }
    for node in order.reversed() {
        let id = ObjectIdentifier(node)
        if let pieces = slicePieces.removeValue(forKey: id) {
            let assembled = assembleSlicesUnchecked(pieces, shape: node.shape)
            adjoints[id] = adjoints[id].map { addUnchecked($0, assembled) } ?? assembled
        }
        if let siblings = node.origin?.siblings, let i = place[id] {
            // Deferred, with its adjoint, to the last sibling reached.
            if i == siblings.outputs.compactMap({ $0.tensor.flatMap { place[ObjectIdentifier($0)] } }).min() {
                jointRule(siblings, node.origin!, relevant: relevant, targets: targets, &adjoints)
            }
            continue
        }
        guard let origin = node.origin, let grad = adjoints[id] else { continue }
        if !targets.contains(id) { adjoints[id] = nil }  // free intermediate adjoints early
        let needs = origin.inputs.map { $0.requiresGrad && relevant.contains(ObjectIdentifier($0)) }
        guard needs.contains(true) else { continue }
        let ruleInputs = createGraph ? origin.inputs : origin.inputs.map { $0.detached() }
        let ruleOutput = createGraph ? node : node.detached()
        let ruleGrad = createGraph ? grad : grad.detached()
        if let offset = origin.sliceOffset {
            slicePieces[ObjectIdentifier(origin.inputs[0]), default: []].append((offset, ruleGrad))
            continue
        }
        let inputGrads = origin.rule(ruleGrad, ruleInputs, ruleOutput, needs)
        accumulate(inputGrads, into: origin.inputs, needs, &adjoints)
    }
    var results: [Tensor<S>] = []
    results.reserveCapacity(inputs.count)
    for x in inputs {
        if let g = adjoints[ObjectIdentifier(x)] {
            results.append(createGraph ? g : g.detached())
        } else {
            results.append(Tensor(shape: x.shape, storage: TensorStorage(zeros: x.count)))
        }
    }
    return results
}

/// Adds each needed input's gradient into its adjoint.
@inline(__always)
private func accumulate<S>(
    _ grads: [Tensor<S>?], into inputs: [Tensor<S>], _ needs: [Bool], _ adjoints: inout [ObjectIdentifier: Tensor<S>]
) {
    for (k, input) in inputs.enumerated() where needs[k] {
        guard let g = grads[k] else { continue }
        let key = ObjectIdentifier(input)
        adjoints[key] = adjoints[key].map { addUnchecked($0, g) } ?? g
    }
}

/// The joint rule of `siblings` (whose outputs share `origin`'s inputs) on the adjoints of all
/// of them (nil where one has none), which it takes out of `adjoints` but for targets'.
private func jointRule<S>(
    _ siblings: SiblingOutputs<S>, _ origin: Origin<S>, relevant: Set<ObjectIdentifier>, targets: Set<ObjectIdentifier>,
    _ adjoints: inout [ObjectIdentifier: Tensor<S>]
) {
    let ids = siblings.outputs.map { $0.tensor.map(ObjectIdentifier.init) }
    let grads = ids.map { id in id.flatMap { adjoints[$0]?.detached() } }
    for case let id? in ids where !targets.contains(id) { adjoints[id] = nil }
    let needs = origin.inputs.map { $0.requiresGrad && relevant.contains(ObjectIdentifier($0)) }
    guard grads.contains(where: { $0 != nil }), needs.contains(true) else { return }
    siblings.jointCalls.add(1, ordering: .relaxed)
    accumulate(siblings.rule(grads, origin.inputs.map { $0.detached() }, needs), into: origin.inputs, needs, &adjoints)
}

/// Depth-first post-order over tensors that require gradients (iterative: graphs can be deep).
@_specialize(where S == Float)
@_specialize(where S == Double)
private func topologicalOrder<S>(from root: Tensor<S>) -> [Tensor<S>] {
    guard root.requiresGrad else { return [] }
    var order: [Tensor<S>] = []
    var visited = Set<ObjectIdentifier>()
    var stack: [(Tensor<S>, Int)] = [(root, 0)]
    visited.insert(ObjectIdentifier(root))
    while let (node, next) = stack.popLast() {
        let inputs = node.origin?.inputs ?? []
        if next < inputs.count {
            stack.append((node, next + 1))
            let child = inputs[next]
            if child.requiresGrad, visited.insert(ObjectIdentifier(child)).inserted {
                stack.append((child, 0))
            }
        } else {
            order.append(node)
        }
    }
    return order
}
