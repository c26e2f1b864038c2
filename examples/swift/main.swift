// A tiny Swift program that uses the engine directly (import ASTCore), no C API in between.
//
//   swift run -c release ast-swift-example

import ASTCore

do {
    let net = try ConvNet(ConvNetConfig(channels: 1, imageSize: 8, classes: 3, width: 4, depth: 2))
    print("swift example: \(net.parameterCount) parameters in \(net.layout.count) tensors")
    for slot in net.layout {
        print("swift example:   \(slot.name) \(slot.shape) at \(slot.offset)")
    }
    let theta = net.initialParameters(seed: 42)
    var generator = SeededGenerator(seed: 1)
    let images = (0..<(2 * 64)).map { _ in Float(generator.nextUniform() * 2 - 1) }
    let labels: [Int32] = [0, 2]
    let logits = try net.logits(images: images, count: 2, parameters: theta)
    print("swift example: logits[0] = \(Array(logits.prefix(3)))")
    let (loss, gradient) = try net.crossEntropyGradient(images: images, labels: labels, count: 2, parameters: theta)
    let norm = gradient.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
    print("swift example: loss \(loss), gradient norm \(norm)")
    do {
        _ = try net.logits(images: Array(images.dropLast()), count: 2, parameters: theta)
    } catch {  // typed throws: `error` is an ASTError
        print("swift example: wrong image count -> \(error.kind): \(error.message)")
    }
    print("swift example: done")
} catch {
    print("swift example: failed: \(error)")
}
