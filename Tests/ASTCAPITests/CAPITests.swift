// The C API called through its own header (module CAst), as a C host would call it.

import ASTCAPI
import ASTCore
import CAst
import Testing

// MARK: - Helpers

private func lastError() -> String { String(cString: ast_last_error()) }

/// A small network: 1x8x8 images, 3 classes, width 4, depth 2.
private func makeConfig(
    channels: Int64 = 1, imageSize: Int64 = 8, classes: Int64 = 3,
    width: Int64 = 4, depth: Int64 = 2,
    norm: Int32 = Int32(AST_NORM_INSTANCE)
) -> OpaquePointer? {
    var cfg: OpaquePointer?
    #expect(ast_config_create(&cfg) == AST_OK_)
    #expect(ast_config_set_int(cfg, Int32(AST_CONFIG_CHANNELS), channels) == AST_OK_)
    #expect(ast_config_set_int(cfg, Int32(AST_CONFIG_IMAGE_SIZE), imageSize) == AST_OK_)
    #expect(ast_config_set_int(cfg, Int32(AST_CONFIG_CLASSES), classes) == AST_OK_)
    #expect(ast_config_set_int(cfg, Int32(AST_CONFIG_WIDTH), width) == AST_OK_)
    #expect(ast_config_set_int(cfg, Int32(AST_CONFIG_DEPTH), depth) == AST_OK_)
    #expect(ast_config_set_int(cfg, Int32(AST_CONFIG_NORM), Int64(norm)) == AST_OK_)
    return cfg
}

private func makeNetwork(_ cfg: OpaquePointer?) -> OpaquePointer? {
    var net: OpaquePointer?
    let st = ast_network_create(cfg, &net)
    #expect(st == AST_OK_, "\(lastError())")
    return net
}

private let AST_OK_ = ast_status(AST_OK)

private func status(_ code: Int) -> ast_status { ast_status(code) }

/// Deterministic pseudo-random floats in [-1, 1).
private func randomFloats(_ n: Int, seed: UInt64) -> [Float] {
    var g = SeededGenerator(seed: seed)
    return (0..<n).map { _ in Float(g.nextUniform() * 2 - 1) }
}

// MARK: - Statuses, versions

@Test func statusValuesMirrorASTErrorKinds() {
    #expect(ASTError.Kind.invalidArgument.rawValue == status(AST_ERR_INVALID_ARGUMENT))
    #expect(ASTError.Kind.shapeMismatch.rawValue == status(AST_ERR_SHAPE_MISMATCH))
    #expect(ASTError.Kind.nonFinite.rawValue == status(AST_ERR_NON_FINITE))
    #expect(ASTError.Kind.io.rawValue == status(AST_ERR_IO))
    #expect(ASTError.Kind.format.rawValue == status(AST_ERR_FORMAT))
    #expect(ASTError.Kind.cancelled.rawValue == status(AST_ERR_CANCELLED))
    #expect(ASTError.Kind.diverged.rawValue == status(AST_ERR_DIVERGED))
    #expect(ASTError.Kind.outOfMemory.rawValue == status(AST_ERR_OUT_OF_MEMORY))
    #expect(ASTError.Kind.unsupported.rawValue == status(AST_ERR_UNSUPPORTED))
    #expect(ASTError.Kind.internal.rawValue == status(AST_ERR_INTERNAL))
    #expect(String(cString: ast_status_string(status(AST_ERR_NULL_POINTER))) == "null pointer")
    #expect(String(cString: ast_status_string(12345)) == "unknown status")
}

@Test func versionMatchesHeader() {
    #expect(ast_version_number() == Int32(AST_VERSION_MAJOR * 10000 + AST_VERSION_MINOR * 100 + AST_VERSION_PATCH))
    #expect(String(cString: ast_version_string()) == AST_VERSION_STRING)
    #expect(ast_abi_version() == Int32(AST_ABI_VERSION))
}

// MARK: - Config

@Test func configDefaultsBoundsAndErrors() throws {
    var cfg: OpaquePointer?
    #expect(ast_config_create(&cfg) == AST_OK_)
    defer { ast_config_free(cfg) }

    var count: Int32 = 0
    #expect(ast_config_keys(nil, 0, &count) == AST_OK_)
    var keys = [Int32](repeating: 0, count: Int(count))
    #expect(ast_config_keys(&keys, count, &count) == AST_OK_)
    #expect(Array(keys.prefix(8)) == (1...8).map(Int32.init))
    #expect(keys == keys.sorted())
    for key in keys {
        var b = ast_bounds()
        #expect(ast_config_bounds(key, &b) == AST_OK_)
        guard b.type == Int32(AST_TYPE_INT) else { continue }  // float/string keys: PipelineAPITests
        var value: Int64 = -1
        #expect(ast_config_get_int(cfg, key, &value) == AST_OK_)
        #expect(value == b.int_default)
        var byName: Int32 = 0
        #expect(ast_config_key_by_name(b.name, &byName) == AST_OK_)
        #expect(byName == key)
        // Bounds are enforced and the value stays unchanged.
        if b.int_max < Int64.max {
            #expect(ast_config_set_int(cfg, key, b.int_max + 1) == status(AST_ERR_OUT_OF_RANGE))
            #expect(lastError().contains(String(cString: b.name)))
        }
        #expect(ast_config_set_int(cfg, key, b.int_min - 1) == status(AST_ERR_OUT_OF_RANGE))
        #expect(ast_config_get_int(cfg, key, &value) == AST_OK_)
        #expect(value == b.int_default)
    }
    var width: Double = 0
    #expect(ast_config_get_float(cfg, Int32(AST_CONFIG_WIDTH), &width) == AST_OK_)
    #expect(width == 128)
    #expect(ast_config_set_float(cfg, Int32(AST_CONFIG_WIDTH), 3) == status(AST_ERR_WRONG_TYPE))
    #expect(ast_config_set_int(cfg, 999, 1) == status(AST_ERR_UNKNOWN_KEY))
    #expect(String(cString: ast_config_last_error(cfg)).contains("key 999"))
    #expect(ast_config_set_int(nil, Int32(AST_CONFIG_WIDTH), 1) == status(AST_ERR_NULL_POINTER))
    #expect(lastError() == "ast_config_set_int: config is NULL")
    #expect(ast_config_get_int(cfg, Int32(AST_CONFIG_WIDTH), nil) == status(AST_ERR_NULL_POINTER))
    #expect(lastError().contains("out is NULL"))
    var key: Int32 = 0
    #expect(ast_config_key_by_name("nope", &key) == status(AST_ERR_UNKNOWN_KEY))
    #expect(ast_config_keys(nil, -1, &count) == status(AST_ERR_INVALID_ARGUMENT))

    // Clones are independent.
    #expect(ast_config_set_int(cfg, Int32(AST_CONFIG_WIDTH), 7) == AST_OK_)
    var copy: OpaquePointer?
    #expect(ast_config_clone(cfg, &copy) == AST_OK_)
    #expect(ast_config_set_int(cfg, Int32(AST_CONFIG_WIDTH), 9) == AST_OK_)
    var w: Int64 = 0
    #expect(ast_config_get_int(copy, Int32(AST_CONFIG_WIDTH), &w) == AST_OK_)
    #expect(w == 7)
    ast_config_free(copy)
    ast_config_free(nil)
}

// MARK: - Network

@Test func networkLayoutMatchesEngine() throws {
    let cfg = makeConfig()
    defer { ast_config_free(cfg) }
    let net = makeNetwork(cfg)
    defer { ast_network_free(net) }
    let engine = try ConvNet(ConvNetConfig(channels: 1, imageSize: 8, classes: 3, width: 4, depth: 2))

    var p: Int64 = 0
    #expect(ast_network_parameter_count(net, &p) == AST_OK_)
    #expect(Int(p) == engine.parameterCount)
    var t: Int64 = 0
    #expect(ast_network_tensor_count(net, &t) == AST_OK_)
    #expect(Int(t) == engine.layout.count)
    for (i, slot) in engine.layout.enumerated() {
        var name: UnsafePointer<CChar>?
        var offset: Int64 = 0, n: Int64 = 0
        var rank: Int32 = 0
        var shape = [Int64](repeating: 0, count: Int(AST_MAX_TENSOR_RANK))
        #expect(
            ast_network_tensor(net, Int64(i), &name, &offset, &n, &rank, &shape, Int32(AST_MAX_TENSOR_RANK)) == AST_OK_)
        #expect(String(cString: name!) == slot.name)
        #expect(Int(offset) == slot.offset && Int(n) == slot.count)
        #expect(shape.prefix(Int(rank)).map(Int.init) == slot.shape)
    }
    #expect(ast_network_tensor(net, t, nil, nil, nil, nil, nil, 0) == status(AST_ERR_OUT_OF_RANGE))
    #expect(ast_network_tensor(net, 0, nil, nil, nil, nil, nil, 2) == status(AST_ERR_NULL_POINTER))

    var theta = [Float](repeating: 0, count: Int(p))
    #expect(ast_network_init_parameters(net, 7, &theta, p) == AST_OK_)
    #expect(theta == engine.initialParameters(seed: 7))
    #expect(ast_network_init_parameters(net, 7, &theta, p - 1) == status(AST_ERR_SHAPE_MISMATCH))

    var got: OpaquePointer?
    #expect(ast_network_get_config(net, &got) == AST_OK_)
    var width: Int64 = 0
    #expect(ast_config_get_int(got, Int32(AST_CONFIG_WIDTH), &width) == AST_OK_)
    #expect(width == 4)
    ast_config_free(got)
}

@Test func engineCallsMatchEngineAndRejectBadInput() throws {
    let cfg = makeConfig()
    defer { ast_config_free(cfg) }
    let net = makeNetwork(cfg)
    defer { ast_network_free(net) }
    let engine = try ConvNet(ConvNetConfig(channels: 1, imageSize: 8, classes: 3, width: 4, depth: 2))
    let p = engine.parameterCount
    let theta = engine.initialParameters(seed: 1)
    let n = 2
    var images = randomFloats(n * 64, seed: 3)
    let labels: [Int32] = [0, 2]

    var logits = [Float](repeating: 0, count: n * 3)
    #expect(
        ast_network_logits(net, theta, Int64(p), images, Int64(images.count), Int64(n), &logits, Int64(logits.count))
            == AST_OK_)
    #expect(logits == (try engine.logits(images: images, count: n, parameters: theta)))

    var loss: Float = 0
    var grad = [Float](repeating: 0, count: p)
    #expect(
        ast_network_loss_gradient(
            net, theta, Int64(p), images, Int64(images.count), labels, Int64(n), &loss, &grad, Int64(p)) == AST_OK_)
    let reference = try engine.crossEntropyGradient(images: images, labels: labels, count: n, parameters: theta)
    #expect(loss == reference.loss && grad == reference.gradient)

    let v = randomFloats(p, seed: 5)
    var hv = [Float](repeating: 0, count: p)
    #expect(
        ast_network_hessian_vector_product(
            net, theta, Int64(p), images, Int64(images.count), labels, Int64(n), v, Int64(p), &hv, Int64(p)) == AST_OK_)
    #expect(hv.contains { $0 != 0 })
    var mixed = [Float](repeating: 0, count: images.count)
    #expect(
        ast_network_mixed_input_product(
            net, theta, Int64(p), images, Int64(images.count), labels, Int64(n), v, Int64(p), &mixed, Int64(mixed.count)
        ) == AST_OK_)
    #expect(mixed.contains { $0 != 0 })

    // Bad input: status + message naming the argument; the handle stays usable.
    func expectFailure(_ st: ast_status, _ code: Int, _ fragment: String) {
        #expect(st == status(code), "\(lastError())")
        #expect(lastError().contains(fragment), "\(lastError())")
        #expect(String(cString: ast_network_last_error(net)).contains(fragment))
    }
    expectFailure(
        ast_network_logits(net, nil, Int64(p), images, Int64(images.count), Int64(n), &logits, 6),
        AST_ERR_NULL_POINTER, "parameters is NULL")
    expectFailure(
        ast_network_logits(net, theta, Int64(p), images, Int64(images.count - 1), Int64(n), &logits, 6),
        AST_ERR_SHAPE_MISMATCH, "images_len")
    expectFailure(
        ast_network_logits(net, theta, Int64(p), images, Int64(images.count), -2, &logits, 6),
        AST_ERR_INVALID_ARGUMENT, "count")
    expectFailure(
        ast_network_logits(net, theta, Int64(p), images, Int64.max, Int64.max / 2, &logits, 6),
        AST_ERR_INVALID_ARGUMENT, "count")
    expectFailure(
        ast_network_logits(net, theta, Int64(p), images, Int64(images.count), Int64(n), &logits, 5),
        AST_ERR_SHAPE_MISMATCH, "out_len")
    expectFailure(
        ast_network_loss_gradient(
            net, theta, Int64(p), images, Int64(images.count), [0, 3], Int64(n), &loss, &grad, Int64(p)),
        AST_ERR_INVALID_ARGUMENT, "labels[1]")
    images[5] = .nan
    expectFailure(
        ast_network_logits(net, theta, Int64(p), images, Int64(images.count), Int64(n), &logits, 6),
        AST_ERR_NON_FINITE, "images[5]")
    images[5] = 0
    expectFailure(
        ast_network_hessian_vector_product(
            net, theta, Int64(p), images, Int64(images.count), labels, Int64(n), v, Int64(p - 1), &hv, Int64(p)),
        AST_ERR_SHAPE_MISMATCH, "vector_len")
    #expect(
        ast_network_logits(nil, theta, Int64(p), images, Int64(images.count), Int64(n), &logits, 6)
            == status(AST_ERR_NULL_POINTER))
    #expect(lastError() == "ast_network_logits: network is NULL")
    // Wrong handle type.
    #expect(ast_network_parameter_count(cfg, nil) == status(AST_ERR_INVALID_ARGUMENT))
    #expect(lastError() == "ast_network_parameter_count: network is an ast_config handle, not an ast_network")

    // Still usable.
    #expect(ast_network_logits(net, theta, Int64(p), images, Int64(images.count), Int64(n), &logits, 6) == AST_OK_)
}

@Test func networkCreateRejectsImpossibleConfigs() {
    let cfg = makeConfig(imageSize: 4, depth: 8)
    defer { ast_config_free(cfg) }
    var net: OpaquePointer? = OpaquePointer(bitPattern: 1)
    #expect(ast_network_create(cfg, &net) == status(AST_ERR_INVALID_ARGUMENT))
    #expect(net == nil)
    #expect(lastError().hasPrefix("ast_network_create: "))
    #expect(ast_network_create(nil, &net) == status(AST_ERR_NULL_POINTER))
    #expect(ast_network_create(cfg, nil) == status(AST_ERR_NULL_POINTER))
}

// MARK: - Dataset + evaluate with progress

private final class ProgressLog {
    var steps: [Int64] = []
    var cancelAfter: Int64 = .max
}

@Test func datasetAndEvaluateWithProgress() throws {
    let n = 5
    let images = randomFloats(n * 64, seed: 11)
    let labels: [Int64] = [0, 1, 2, 1, 0]
    var ds: OpaquePointer?
    #expect(
        ast_dataset_create(
            images, Int64(images.count), labels, Int32(AST_LABELS_INT64), Int64(n),
            Int64(n), 1, 8, 8, 3, &ds) == AST_OK_, "\(lastError())")
    defer { ast_dataset_free(ds) }
    var count: Int64 = 0, classes: Int64 = 0
    #expect(ast_dataset_shape(ds, &count, nil, nil, nil, &classes) == AST_OK_)
    #expect(count == 5 && classes == 3)
    var fp: UnsafePointer<CChar>?
    #expect(ast_dataset_fingerprint(ds, &fp) == AST_OK_)
    #expect(!String(cString: fp!).isEmpty)
    var back = [Int32](repeating: -1, count: n)
    #expect(ast_dataset_copy_labels(ds, &back, Int64(n)) == AST_OK_)
    #expect(back == [0, 1, 2, 1, 0])

    let cfg = makeConfig()
    let net = makeNetwork(cfg)
    ast_config_free(cfg)  // any free order
    defer { ast_network_free(net) }
    var p: Int64 = 0
    #expect(ast_network_parameter_count(net, &p) == AST_OK_)
    var theta = [Float](repeating: 0, count: Int(p))
    #expect(ast_network_init_parameters(net, 3, &theta, p) == AST_OK_)

    let log = ProgressLog()
    let callback: ast_progress_fn = { report, user in
        let log = Unmanaged<ProgressLog>.fromOpaque(user!).takeUnretainedValue()
        log.steps.append(report!.pointee.step)
        return report!.pointee.step >= log.cancelAfter ? 1 : 0
    }
    var loss = 0.0, accuracy = 0.0
    let user = Unmanaged.passUnretained(log).toOpaque()
    #expect(ast_network_evaluate(net, theta, p, ds, 2, callback, user, &loss, &accuracy) == AST_OK_)
    #expect(log.steps == [2, 4, 5])
    #expect(loss > 0 && (0...1).contains(accuracy))

    // Same loss as the engine's mean cross-entropy over all five images.
    var labels32 = labels.map(Int32.init)
    var grad = [Float](repeating: 0, count: Int(p))
    var ceLoss: Float = 0
    #expect(
        ast_network_loss_gradient(net, theta, p, images, Int64(images.count), &labels32, Int64(n), &ceLoss, &grad, p)
            == AST_OK_)
    #expect(abs(Double(ceLoss) - loss) < 1e-5 * max(1, loss))

    log.steps = []
    log.cancelAfter = 2
    var untouched = -1.0
    #expect(ast_network_evaluate(net, theta, p, ds, 2, callback, user, &untouched, nil) == status(AST_ERR_CANCELLED))
    #expect(untouched == -1)
    #expect(log.steps == [2])
    #expect(ast_network_evaluate(net, theta, p, ds, 0, nil, nil, &loss, nil) == status(AST_ERR_INVALID_ARGUMENT))
    #expect(lastError().contains("batch_size"))
    #expect(ast_network_evaluate(net, theta, p, nil, 2, nil, nil, &loss, nil) == status(AST_ERR_NULL_POINTER))
    #expect(lastError().contains("dataset is NULL"))
}

@Test func datasetRejectsBadInput() {
    var images = randomFloats(2 * 4, seed: 1)
    let labels: [Int32] = [0, 1]
    var ds: OpaquePointer?
    func expectFailure(_ st: ast_status, _ code: Int, _ fragment: String) {
        #expect(st == status(code), "\(lastError())")
        #expect(lastError().contains(fragment), "\(lastError())")
        #expect(ds == nil)
    }
    expectFailure(
        ast_dataset_create(nil, 8, labels, Int32(AST_LABELS_INT32), 2, 2, 1, 2, 2, 2, &ds), AST_ERR_NULL_POINTER,
        "images is NULL")
    expectFailure(
        ast_dataset_create(images, 8, labels, 7, 2, 2, 1, 2, 2, 2, &ds), AST_ERR_INVALID_ARGUMENT, "label_type")
    expectFailure(
        ast_dataset_create(images, 8, labels, Int32(AST_LABELS_INT32), 2, -2, 1, 2, 2, 2, &ds),
        AST_ERR_INVALID_ARGUMENT, "count")
    expectFailure(
        ast_dataset_create(images, 8, labels, Int32(AST_LABELS_INT32), 2, 2, 1, 2, 2, 1, &ds), AST_ERR_INVALID_ARGUMENT,
        "classes")
    expectFailure(
        ast_dataset_create(images, 7, labels, Int32(AST_LABELS_INT32), 2, 2, 1, 2, 2, 2, &ds), AST_ERR_SHAPE_MISMATCH,
        "images_len")
    expectFailure(
        ast_dataset_create(images, 8, labels, Int32(AST_LABELS_INT32), 3, 2, 1, 2, 2, 2, &ds), AST_ERR_SHAPE_MISMATCH,
        "labels_len")
    expectFailure(
        ast_dataset_create(images, 8, [0, 2] as [Int32], Int32(AST_LABELS_INT32), 2, 2, 1, 2, 2, 2, &ds),
        AST_ERR_INVALID_ARGUMENT, "labels[1]")
    expectFailure(
        ast_dataset_create(
            images, 8, labels, Int32(AST_LABELS_INT32), 2, Int64(Int32.max), 65536, 65536, 65536, 2, &ds),
        AST_ERR_OUT_OF_MEMORY, "count*channels*height*width")
    images[3] = .infinity
    expectFailure(
        ast_dataset_create(images, 8, labels, Int32(AST_LABELS_INT32), 2, 2, 1, 2, 2, 2, &ds), AST_ERR_NON_FINITE,
        "images[3]")
    #expect(
        ast_dataset_create(images, 8, labels, Int32(AST_LABELS_INT32), 2, 2, 1, 2, 2, 2, nil)
            == status(AST_ERR_NULL_POINTER))
    #expect(ast_dataset_shape(nil, nil, nil, nil, nil, nil) == status(AST_ERR_NULL_POINTER))
    #expect(String(cString: ast_dataset_last_error(nil)).contains("NULL"))
    ast_dataset_free(nil)
}

@Test func hugeBatchesAreRefusedBeforeAnyAllocation() {
    // 3x512x512 images, width 1024: nine images would need 9*1024*516^2 > 2^31 activations.
    let cfg = makeConfig(channels: 3, imageSize: 512, classes: 10, width: 1024, depth: 3)
    defer { ast_config_free(cfg) }
    let net = makeNetwork(cfg)
    defer { ast_network_free(net) }
    var p: Int64 = 0
    #expect(ast_network_parameter_count(net, &p) == AST_OK_)
    // Lengths are validated before the buffers are read, so stand-ins suffice here.
    let dummy: [Float] = [0]
    var out: [Float] = [0]
    let st = ast_network_logits(net, dummy, p, dummy, 9 * 3 * 512 * 512, 9, &out, 90)
    #expect(st == status(AST_ERR_OUT_OF_MEMORY))
    #expect(lastError().contains("count 9 is too large"))
}
