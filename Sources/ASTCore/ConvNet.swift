#if canImport(Glibc)
import Glibc
#endif

/// MTT's "ConvNet": depth × [conv 3x3 → norm → ReLU → 2x2 pool] → linear, as a pure function of
/// one flat parameter vector in MTT's (ReparamModule) order.

public enum NormKind: Int32, Sendable, CaseIterable {
    case none = 0
    /// GroupNorm with one group per channel (MTT's "instancenorm").
    case instance = 1
    /// Training-mode batch statistics (no running averages).
    case batch = 2
}

public enum PoolKind: Int32, Sendable, CaseIterable {
    case average = 0
    case max = 1
}

public struct ConvNetConfig: Sendable, Equatable, Hashable {
    public var channels: Int
    public var imageSize: Int
    public var classes: Int
    public var width: Int
    public var depth: Int
    public var norm: NormKind
    public var pool: PoolKind

    public init(
        channels: Int, imageSize: Int, classes: Int, width: Int = 128, depth: Int = 3,
        norm: NormKind = .instance, pool: PoolKind = .average
    ) {
        self.channels = channels
        self.imageSize = imageSize
        self.classes = classes
        self.width = width
        self.depth = depth
        self.norm = norm
        self.pool = pool
    }

    /// MTT pads the first conv by 3 for 28x28 one-channel images (28 → 32), else by 1.
    public var firstPadding: Int { channels == 1 && imageSize == 28 ? 3 : 1 }

    /// Spatial size after each block's pooling.
    public var blockOutputSizes: [Int] {
        var size = imageSize
        return (0..<depth).map { d in
            size = (size + 2 * (d == 0 ? firstPadding : 1) - 2) / 2
            return size
        }
    }

    /// Throws naming the first field out of bounds.
    public func validate() throws(ASTError) {
        func check(_ name: String, _ value: Int, _ range: ClosedRange<Int>) throws(ASTError) {
            guard range.contains(value) else { throw .invalid("network \(name) \(value) is outside \(range)") }
        }
        try check("channels", channels, 1...64)
        try check("image size", imageSize, 2...1024)
        try check("classes", classes, 1...100_000)
        try check("width", width, 1...4096)
        try check("depth", depth, 1...10)
        var size = imageSize
        for d in 0..<depth {
            let convolved = size + 2 * (d == 0 ? firstPadding : 1) - 2
            guard convolved >= 2 else {
                throw .invalid(
                    "network depth \(depth) is too deep for \(imageSize)x\(imageSize) images (block \(d) input is "
                        + "\(size)x\(size))"
                )
            }
            size = convolved / 2
        }
        let features = width.multipliedReportingOverflow(by: size * size)
        guard !features.overflow, features.partialValue <= 1 << 26 else { throw .invalid("network is too large") }
    }
}

/// One tensor inside the flat parameter vector.
public struct ParameterSlot: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    public let offset: Int
    public let count: Int
    /// PyTorch's init bound 1/sqrt(fan_in) for weights and biases; nil for norm gamma (1) / beta (0).
    let initBound: Double?
}

public struct ConvNet: Sendable {
    public let config: ConvNetConfig
    public let layout: [ParameterSlot]
    public var parameterCount: Int { layout.last.map { $0.offset + $0.count } ?? 0 }

    public init(_ config: ConvNetConfig) throws(ASTError) {
        try config.validate()
        self.config = config
        var slots: [ParameterSlot] = []
        var offset = 0
        func add(_ name: String, _ shape: [Int], _ bound: Double?) {
            let n = shape.reduce(1, *)
            slots.append(ParameterSlot(name: name, shape: shape, offset: offset, count: n, initBound: bound))
            offset += n
        }
        var cin = config.channels
        for d in 0..<config.depth {
            let bound = 1 / Double(cin * 9).squareRoot()
            add("conv\(d).weight", [config.width, cin, 3, 3], bound)
            add("conv\(d).bias", [config.width], bound)
            if config.norm != .none {
                add("norm\(d).weight", [config.width], nil)
                add("norm\(d).bias", [config.width], nil)
            }
            cin = config.width
        }
        let side = config.blockOutputSizes.last ?? config.imageSize
        let features = config.width * side * side
        let bound = 1 / Double(features).squareRoot()
        add("classifier.weight", [config.classes, features], bound)
        add("classifier.bias", [config.classes], bound)
        layout = slots
    }

    public var imageShape: [Int] { [config.channels, config.imageSize, config.imageSize] }
    public var imageElementCount: Int { config.channels * config.imageSize * config.imageSize }

    /// PyTorch-default initial parameters: U(±1/sqrt(fan_in)) for conv/linear weights and
    /// biases, gamma 1, beta 0; drawn from `generator`.
    public func initialParameters<G: RandomNumberGenerator>(using generator: inout G) -> [Float] {
        var theta = [Float](repeating: 0, count: parameterCount)
        for slot in layout {
            if let bound = slot.initBound {
                for i in slot.offset..<(slot.offset + slot.count) {
                    theta[i] = Float((Double.random(in: 0..<1, using: &generator) * 2 - 1) * bound)
                }
            } else if slot.name.hasSuffix(".weight") {
                for i in slot.offset..<(slot.offset + slot.count) { theta[i] = 1 }
            }
        }
        return theta
    }

    public func initialParameters(seed: UInt64) -> [Float] {
        var generator = SeededGenerator(seed: seed)
        return initialParameters(using: &generator)
    }

    // MARK: Differentiable forward

    /// Logits (N, K) of images (N, C, H, W) under the flat parameters θ (P).
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    public func forward<S>(_ images: Tensor<S>, parameters theta: Tensor<S>) throws(ASTError) -> Tensor<S> {
        try checkImages(images.shape, "images")
        guard theta.shape == [parameterCount] else {
            throw .shape("parameters: shape \(theta.shape) does not match the network's [\(parameterCount)]")
        }
        return forwardUnchecked(images, theta)
    }

    @_specialize(where S == Float)
    @_specialize(where S == Double)
    package func forwardUnchecked<S>(_ images: Tensor<S>, _ theta: Tensor<S>) -> Tensor<S> {
        var slots = layout.makeIterator()
        func next() -> Tensor<S> {
            let s = slots.next()!
            return sliceUnchecked(theta, offset: s.offset, shape: s.shape)
        }
        var h = images
        for d in 0..<config.depth {
            let (w, b) = (next(), next())
            h = conv2dUnchecked(h, w, padding: d == 0 ? config.firstPadding : 1)
            if config.norm == .instance && config.pool == .average {
                h = normReluPoolUnchecked(h, bias: b, gamma: next(), beta: next())
                continue
            }
            switch config.norm {
            case .instance:
                h = normReluUnchecked(h, bias: b, gamma: next(), beta: next())
            case .batch:
                let biased = channelAffineUnchecked(h, scale: nil, shift: b)
                h = reluUnchecked(standardizeUnchecked(biased, axes: [0, 2, 3], gamma: next(), beta: next()))
            case .none:
                h = reluUnchecked(channelAffineUnchecked(h, scale: nil, shift: b))
            }
            h = config.pool == .average ? avgPoolUnchecked(h) : maxPoolUnchecked(h)
        }
        let (w, b) = (next(), next())
        return linearUnchecked(reshapeUnchecked(h, [h.shape[0], h.count / h.shape[0]]), w, b)
    }

    package func checkImages(_ shape: [Int], _ name: String) throws(ASTError) {
        guard shape.count == 4, Array(shape.dropFirst()) == imageShape, shape[0] > 0 else {
            throw .shape(
                "\(name): shape \(shape) does not match the network's (N, \(config.channels), \(config.imageSize), "
                    + "\(config.imageSize))"
            )
        }
    }

    // MARK: Array API (Float) — what the C ABI and simple callers use

    private func inputs(
        _ images: [Float], _ count: Int, _ parameters: [Float]
    ) throws(ASTError) -> (Tensor<Float>, Tensor<Float>) {
        guard count > 0 else { throw .invalid("count must be positive, got \(count)") }
        let (total, overflow) = count.multipliedReportingOverflow(by: imageElementCount)
        guard !overflow, images.count == total else {
            throw .shape(
                "images: \(images.count) floats given, \(count) images of \(imageShape) need "
                    + "\(overflow ? "too many" : String(total))"
            )
        }
        guard parameters.count == parameterCount else {
            throw .shape("parameters: \(parameters.count) floats given, the network has \(parameterCount)")
        }
        let x = try Tensor<Float>(shape: [count] + imageShape, scalars: images)
        let theta = try Tensor<Float>(shape: [parameterCount], scalars: parameters)
        try x.checkFinite("images")
        try theta.checkFinite("parameters")
        return (x, theta)
    }

    private func checkLabels(_ labels: [Int32], _ count: Int) throws(ASTError) {
        guard labels.count == count else { throw .shape("labels: \(labels.count) given for \(count) images") }
        if let bad = labels.firstIndex(where: { $0 < 0 || Int($0) >= config.classes }) {
            throw .invalid("labels: label \(labels[bad]) at index \(bad) is outside [0, \(config.classes))")
        }
    }

    /// Logits, count × classes, row-major.
    public func logits(images: [Float], count: Int, parameters: [Float]) throws(ASTError) -> [Float] {
        let (x, theta) = try inputs(images, count, parameters)
        return forwardUnchecked(x, theta).scalars
    }

    /// Mean cross-entropy and its gradient with respect to the parameters.
    public func crossEntropyGradient(
        images: [Float], labels: [Int32], count: Int,
        parameters: [Float]
    ) throws(ASTError) -> (loss: Float, gradient: [Float]) {
        let (x, theta0) = try inputs(images, count, parameters)
        try checkLabels(labels, count)
        let theta = theta0.variable()
        let loss = softCrossEntropyUnchecked(forwardUnchecked(x, theta), oneHot(labels, classes: config.classes))
        let g = try gradients(of: loss, wrt: [theta])[0]
        return (loss.item, g.scalars)
    }

    /// (∂²CE/∂θ²)·v and ∂/∂x (∇θ CE · v) in one double-backward pass.
    public func hessianVectorProducts(
        images: [Float], labels: [Int32], count: Int, parameters: [Float],
        vector: [Float]
    ) throws(ASTError) -> (parameters: [Float], images: [Float]) {
        let (x0, theta0) = try inputs(images, count, parameters)
        try checkLabels(labels, count)
        guard vector.count == parameterCount else {
            throw .shape("vector: \(vector.count) floats given, the network has \(parameterCount) parameters")
        }
        let v = try Tensor<Float>(shape: [parameterCount], scalars: vector)
        try v.checkFinite("vector")
        let (x, theta) = (x0.variable(), theta0.variable())
        let loss = softCrossEntropyUnchecked(forwardUnchecked(x, theta), oneHot(labels, classes: config.classes))
        let g = try gradients(of: loss, wrt: [theta], createGraph: true)[0]
        let second = try gradients(of: g, wrt: [theta, x], seed: v)  // d⟨g, v⟩
        return (second[0].scalars, second[1].scalars)
    }

    /// (∂²CE/∂θ²)·v, length P.
    public func hessianVectorProduct(
        images: [Float], labels: [Int32], count: Int, parameters: [Float],
        vector: [Float]
    ) throws(ASTError) -> [Float] {
        try hessianVectorProducts(images: images, labels: labels, count: count, parameters: parameters, vector: vector)
            .parameters
    }

    /// ∂/∂x (∇θ CE · v), images-sized.
    public func mixedInputProduct(
        images: [Float], labels: [Int32], count: Int, parameters: [Float],
        vector: [Float]
    ) throws(ASTError) -> [Float] {
        try hessianVectorProducts(images: images, labels: labels, count: count, parameters: parameters, vector: vector)
            .images
    }
}
