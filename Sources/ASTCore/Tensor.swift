/// Dense row-major tensors (NCHW for images) and the graph record that makes them differentiable.
import Synchronization

/// One heap buffer of scalars. Immutable after the op that filled it returns, so tensors
/// (reshapes, detached copies) may share it.
package final class TensorStorage<Scalar: TensorScalar>: @unchecked Sendable {
    package let base: UnsafeMutablePointer<Scalar>
    package let count: Int

    /// Uninitialised storage: the creating kernel writes every element.
    package init(uninitializedCount count: Int) {
        self.count = count
        base = BufferPool.allocate(bytes: max(count, 1) * MemoryLayout<Scalar>.stride)
            .bindMemory(to: Scalar.self, capacity: max(count, 1))
    }

    package convenience init(zeros count: Int) {
        self.init(uninitializedCount: count)
        zeroElements(base, count)
    }

    deinit { BufferPool.release(UnsafeMutableRawPointer(base), bytes: max(count, 1) * MemoryLayout<Scalar>.stride) }
}

/// How a tensor was made: its inputs and the rule mapping the output's adjoint to the inputs'.
/// Backward rules are written with the same differentiable ops, so they can be differentiated
/// again (double backward).
package struct Origin<Scalar: TensorScalar> {
    package typealias Rule = (
        _ grad: Tensor<Scalar>, _ inputs: [Tensor<Scalar>], _ output: Tensor<Scalar>,
        _ needs: [Bool]
    ) -> [Tensor<Scalar>?]
    let name: StaticString
    let inputs: [Tensor<Scalar>]
    let rule: Rule
    /// For slices: where the slice starts in its input. `gradients` gathers the adjoints of all
    /// slices of one tensor into one op instead of a zero-padded full-size tensor per slice.
    var sliceOffset: Int? = nil
    /// For outputs of one op whose adjoints one rule takes together (see `SiblingOutputs`).
    var siblings: SiblingOutputs<Scalar>? = nil
}

/// Outputs of one op, on the same inputs, whose first-order adjoints one rule computes together
/// in one sweep (the fused norm's dx, dγ and dβ: one mask and projection instead of three, one
/// ∂g and ∂x instead of three to add). `gradients` without `createGraph` calls `rule` once, with
/// the adjoint of every output (nil: none), at the last of them it reaches; when it records a
/// graph each output's own rule runs.
package final class SiblingOutputs<Scalar: TensorScalar>: @unchecked Sendable {
    package typealias Rule = (
        _ grads: [Tensor<Scalar>?], _ inputs: [Tensor<Scalar>], _ needs: [Bool]
    ) -> [Tensor<Scalar>?]
    let rule: Rule
    /// Times `gradients` ran the joint rule (for tests).
    package let jointCalls = Atomic<Int>(0)
    /// The outputs, weakly: they hold this object through their origins.
    private(set) var outputs: [Weak] = []
    struct Weak { weak var tensor: Tensor<Scalar>? }

    package init(_ rule: @escaping Rule) { self.rule = rule }

    /// Sets the outputs once they are made (before any gradient is taken through them); the
    /// rule's `grads` come in this order (nil for an output not made or not reached).
    package func bind(_ outputs: [Tensor<Scalar>?]) { self.outputs = outputs.map { Weak(tensor: $0) } }
}

/// An n-dimensional array of `Scalar` that may carry the record of how it was computed.
public final class Tensor<Scalar: TensorScalar>: @unchecked Sendable {
    public let shape: [Int]
    package let storage: TensorStorage<Scalar>
    /// True when gradients may flow to this tensor: a variable, or computed from one.
    public let requiresGrad: Bool
    package let origin: Origin<Scalar>?

    package init(
        shape: [Int], storage: TensorStorage<Scalar>, requiresGrad: Bool = false, origin: Origin<Scalar>? = nil
    ) {
        self.shape = shape
        self.storage = storage
        self.requiresGrad = requiresGrad
        self.origin = origin
    }

    /// A constant tensor holding a copy of `scalars`.
    public convenience init(shape: [Int], scalars: [Scalar]) throws(ASTError) {
        let count = try Self.elementCount(shape, name: "tensor")
        guard scalars.count == count else {
            throw .shape("tensor: \(scalars.count) scalars given for shape \(shape) (\(count) elements)")
        }
        let storage = TensorStorage<Scalar>(uninitializedCount: count)
        scalars.withUnsafeBufferPointer { copyElements(storage.base, $0.baseAddress!, count) }
        self.init(shape: shape, storage: storage)
    }

    /// A constant tensor copied from caller memory.
    public convenience init(shape: [Int], copying buffer: UnsafeBufferPointer<Scalar>) throws(ASTError) {
        let count = try Self.elementCount(shape, name: "tensor")
        guard buffer.count == count else {
            throw .shape("tensor: buffer of \(buffer.count) scalars given for shape \(shape) (\(count) elements)")
        }
        let storage = TensorStorage<Scalar>(uninitializedCount: count)
        if count > 0, let source = buffer.baseAddress { copyElements(storage.base, source, count) }
        self.init(shape: shape, storage: storage)
    }

    public static func zeros(_ shape: [Int]) throws(ASTError) -> Tensor {
        Tensor(shape: shape, storage: TensorStorage(zeros: try elementCount(shape, name: "zeros")))
    }

    public static func scalar(_ value: Scalar) -> Tensor {
        let s = TensorStorage<Scalar>(uninitializedCount: 1)
        s.base.initialize(to: value)
        return Tensor(shape: [], storage: s)
    }

    /// The same values as a leaf that gradients are taken with respect to.
    public func variable() -> Tensor { Tensor(shape: shape, storage: storage, requiresGrad: true) }

    /// The same values with no history: gradients stop here.
    public func detached() -> Tensor { origin == nil && !requiresGrad ? self : Tensor(shape: shape, storage: storage) }

    public var count: Int { storage.count }
    public var rank: Int { shape.count }
    public var scalars: [Scalar] { Array(UnsafeBufferPointer(start: storage.base, count: storage.count)) }

    /// The single value of a one-element tensor (0 for others: check `count` first).
    public var item: Scalar { storage.count == 1 ? storage.base[0] : 0 }

    /// Read-only access to the contiguous row-major values.
    public func withUnsafeBufferPointer<R, E: Error>(
        _ body: (UnsafeBufferPointer<Scalar>) throws(E) -> R
    ) throws(E) -> R {
        try body(UnsafeBufferPointer(start: storage.base, count: storage.count))
    }

    /// Product of dimensions, with negative sizes and overflow reported as errors.
    static func elementCount(_ shape: [Int], name: String) throws(ASTError) -> Int {
        var n = 1
        for d in shape {
            guard d >= 0 else { throw .shape("\(name): negative dimension in shape \(shape)") }
            let (p, overflow) = n.multipliedReportingOverflow(by: d)
            guard !overflow, p <= Int(Int32.max) * 16 else { throw .shape("\(name): shape \(shape) is too large") }
            n = p
        }
        return n
    }

    /// Throws `.nonFinite` naming `name` and the first offending index when a value is NaN or ±Inf.
    public func checkFinite(_ name: String) throws(ASTError) {
        let p = storage.base
        for i in 0..<storage.count where !p[i].isFinite {
            throw ASTError(.nonFinite, "\(name): element \(i) is \(p[i]) (shape \(shape))")
        }
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let head = scalars.prefix(8).map { "\($0)" }.joined(separator: ", ")
        return "Tensor\(shape)[\(head)\(count > 8 ? ", …" : "")]"
    }
}

/// Makes the result of an op: records the origin only when some input requires gradients.
@inline(__always)
@_specialize(where S == Float)
@_specialize(where S == Double)
package func makeResult<S>(
    _ shape: [Int], _ storage: TensorStorage<S>, _ name: StaticString,
    _ inputs: [Tensor<S>], sliceOffset: Int? = nil, siblings: SiblingOutputs<S>? = nil,
    _ rule: @escaping Origin<S>.Rule
) -> Tensor<S> {
    if inputs.contains(where: { $0.requiresGrad }) {
        return Tensor(
            shape: shape, storage: storage, requiresGrad: true,
            origin: Origin(name: name, inputs: inputs, rule: rule, sliceOffset: sliceOffset, siblings: siblings))
    }
    return Tensor(shape: shape, storage: storage)
}

package func shapeProduct(_ shape: [Int]) -> Int { shape.reduce(1, *) }
