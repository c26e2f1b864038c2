// The run configuration, ast_run and ast_matching_step called through the header (module
// CAst), as a C host would call them.

import ASTCAPI
import ASTCore
import ASTData
import ASTDistill
import CAst
import Testing
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Helpers

private let OK = ast_status(AST_OK)
private func status(_ code: Int) -> ast_status { ast_status(code) }
private func lastError() -> String { String(cString: ast_last_error()) }
private func key(_ k: Int) -> Int32 { Int32(k) }

private func newConfig() -> OpaquePointer? {
    var cfg: OpaquePointer?
    #expect(ast_config_create(&cfg) == OK)
    return cfg
}

private func getString(_ cfg: OpaquePointer?, _ k: Int) -> String? {
    var length: Int64 = 0
    guard ast_config_get_string(cfg, key(k), nil, 0, &length) == OK else { return nil }
    var buffer = [CChar](repeating: 0, count: Int(length) + 1)
    guard ast_config_get_string(cfg, key(k), &buffer, Int64(buffer.count), &length) == OK else { return nil }
    return string(buffer)
}

private func toJSON(_ cfg: OpaquePointer?) -> String {
    var length: Int64 = 0
    #expect(ast_config_to_json(cfg, nil, 0, &length) == OK)
    var buffer = [CChar](repeating: 0, count: Int(length) + 1)
    #expect(ast_config_to_json(cfg, &buffer, Int64(buffer.count), &length) == OK)
    return string(buffer)
}

/// A fresh, empty directory under /tmp.
private func temporaryDirectory(_ tag: String) -> String {
    var template = Array("/tmp/libast-capi-\(tag)-XXXXXX".utf8CString)
    let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    precondition(made != nil, "mkdtemp failed")
    return string(template)
}

/// rm -r (directories made by these tests only).
private func removeTree(_ path: String) {
    if let dir = opendir(path) {
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        closedir(dir)
        for name in names { removeTree(path + "/" + name) }
        rmdir(path)
    } else {
        unlink(path)
    }
}

/// A NUL-terminated C buffer as a String.
private func string(_ buffer: [CChar]) -> String {
    buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
}

private func fileExists(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0
}

private func readTextFile(_ path: String) -> String? {
    guard let f = fopen(path, "rb") else { return nil }
    defer { fclose(f) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&chunk, 1, chunk.count, f)
        if n == 0 { break }
        bytes += chunk[0..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// Deterministic pseudo-random floats in [-1, 1).
private func randomFloats(_ n: Int, seed: UInt64) -> [Float] {
    var g = SeededGenerator(seed: seed)
    return (0..<n).map { _ in Float(g.nextUniform() * 2 - 1) }
}

// MARK: - Configuration: the whole run table

@Test func configKeysCoverEveryRunParameterWithItsBoundsAndDefaults() throws {
    var count: Int32 = 0
    #expect(ast_config_keys(nil, 0, &count) == OK)
    #expect(Int(count) == RunConfiguration.parameters.count)
    let defaults = RunConfiguration()
    for p in RunConfiguration.parameters {
        var b = ast_bounds()
        #expect(ast_config_bounds(p.key, &b) == OK, "\(p.name)")
        var name: UnsafePointer<CChar>?, help: UnsafePointer<CChar>?, choices: UnsafePointer<CChar>?
        #expect(ast_config_describe(p.key, &name, &help, &choices) == OK)
        #expect(String(cString: name!) == p.name)
        #expect(String(cString: help!).isEmpty == false)
        var byName: Int32 = 0
        #expect(ast_config_key_by_name(p.name, &byName) == OK)
        #expect(byName == p.key)
        guard p.key > 8 else { continue }  // keys 1-8 keep their 0.1 C meaning (below)
        #expect(String(cString: choices!) == p.choices.joined(separator: "|"))
        switch (p.kind, p.value(in: defaults)) {
        case (.int, .int(let v)):
            #expect(b.type == Int32(AST_TYPE_INT))
            #expect(Double(b.int_min) == p.minimum && Double(b.int_max) == p.maximum && b.int_default == v, "\(p.name)")
        case (.float, .float(let v)):
            #expect(b.type == Int32(AST_TYPE_FLOAT))
            #expect(b.float_min == p.minimum && b.float_max == p.maximum && b.float_default == v, "\(p.name)")
        case (.string, .string(let v)):
            #expect(b.type == Int32(AST_TYPE_STRING))
            let cfg = newConfig()
            #expect(getString(cfg, Int(p.key)) == v, "\(p.name)")
            ast_config_free(cfg)
        default:
            Issue.record("\(p.name): kind and default disagree")
        }
    }
    // The 0.1 network keys: same numbers, names, defaults and int encoding; the bounds are the
    // settings table's (0.1 had tighter ones: a superset, so 0.1 callers are unaffected).
    var b = ast_bounds()
    #expect(ast_config_bounds(key(AST_CONFIG_NORM), &b) == OK)
    #expect(String(cString: b.name) == "norm" && b.type == Int32(AST_TYPE_INT) && b.int_max == 2 && b.int_default == 1)
    #expect(ast_config_bounds(key(AST_CONFIG_IMAGE_SIZE), &b) == OK)
    #expect(b.int_min == 2 && b.int_max == 1024 && b.int_default == 32)
    for k in [AST_CONFIG_CHANNELS, AST_CONFIG_IMAGE_SIZE, AST_CONFIG_CLASSES, AST_CONFIG_WIDTH, AST_CONFIG_DEPTH] {
        let p = try #require(RunConfiguration.parameter(key: key(k)))
        #expect(ast_config_bounds(key(k), &b) == OK)
        #expect(Double(b.int_min) == p.minimum && Double(b.int_max) == p.maximum, "\(p.name)")
    }
    var k: Int32 = 0
    #expect(ast_config_key_by_name("width", &k) == OK && k == key(AST_CONFIG_WIDTH))
    #expect(ast_config_key_by_name("network.width", &k) == OK && k == key(AST_CONFIG_WIDTH))
}

/// The header's key table (the manual) must say what the library does.
@Test func headerKeyTableMatchesTheLibrary() throws {
    let headerPath = String(#filePath).split(separator: "/").dropLast(3).joined(separator: "/")
    let header = try #require(readTextFile("/" + headerPath + "/include/ast.h"))
    var rows = 0
    var listed = Set<Int32>()
    for line in header.split(separator: "\n") {
        let tokens = line.split(separator: " ").map(String.init)
        guard tokens.count >= 6, tokens[0] == "*", tokens[1].hasPrefix("AST_CONFIG_"),
            ["int", "float", "string"].contains(tokens[3])
        else { continue }
        rows += 1
        var k: Int32 = 0
        #expect(ast_config_key_by_name(tokens[2], &k) == OK, "\(tokens[2])")
        listed.insert(k)
        var b = ast_bounds()
        #expect(ast_config_bounds(k, &b) == OK)
        let type = tokens[3], defaultText = tokens[4], boundsText = tokens[5]
        switch type {
        case "int":
            #expect(b.type == Int32(AST_TYPE_INT), "\(tokens[1])")
            #expect(Int64(defaultText) == b.int_default, "\(tokens[1]) default")
            let parts = boundsText.components("...")
            #expect(Int64(parts[0]) == b.int_min, "\(tokens[1]) min")
            #expect((parts[1] == "2^63-1" ? Int64.max : Int64(parts[1])) == b.int_max, "\(tokens[1]) max")
        case "float":
            #expect(b.type == Int32(AST_TYPE_FLOAT), "\(tokens[1])")
            #expect(Double(defaultText) == b.float_default, "\(tokens[1]) default")
            let parts = boundsText.components("...")
            #expect(Double(parts[0]) == b.float_min && Double(parts[1]) == b.float_max, "\(tokens[1]) bounds")
        default:
            #expect(b.type == Int32(AST_TYPE_STRING), "\(tokens[1])")
            let cfg = newConfig()
            let value = getString(cfg, Int(k))
            ast_config_free(cfg)
            #expect(
                defaultText == "DSA" ? value == DSA.defaultStrategy : "\"\(value ?? "?")\"" == defaultText,
                "\(tokens[1]) default")
            var choices: UnsafePointer<CChar>?
            #expect(ast_config_describe(k, nil, nil, &choices) == OK)
            let allowed = String(cString: choices!)
            #expect(
                allowed.isEmpty ? ["DSA", "path"].contains(boundsText) : allowed == boundsText, "\(tokens[1]) choices")
        }
    }
    var count: Int32 = 0
    #expect(ast_config_keys(nil, 0, &count) == OK)
    var keys = [Int32](repeating: 0, count: Int(count))
    #expect(ast_config_keys(&keys, count, &count) == OK)
    let missing = keys.filter { !listed.contains($0) }.map { k -> String in
        var name: UnsafePointer<CChar>?
        _ = ast_config_describe(k, &name, nil, nil)
        return "\(k) \(String(cString: name!))"
    }
    #expect(missing.isEmpty, "keys missing from the header's table: \(missing)")
    #expect(rows == Int(count), "the header's table lists \(rows) of \(count) keys")
}

extension String {
    /// Split on a separator string (no Foundation).
    fileprivate func components(_ separator: String) -> [String] {
        var parts: [String] = []
        var rest = Substring(self)
        while let r = rest.firstRange(of: separator) {
            parts.append(String(rest[..<r.lowerBound]))
            rest = rest[r.upperBound...]
        }
        parts.append(String(rest))
        return parts
    }
}

@Test func configTypedSettersStringsAndErrors() {
    let cfg = newConfig()
    defer { ast_config_free(cfg) }
    // floats
    #expect(ast_config_set_float(cfg, key(AST_CONFIG_DISTILL_LR_IMG), 250) == OK)
    var d = 0.0
    #expect(ast_config_get_float(cfg, key(AST_CONFIG_DISTILL_LR_IMG), &d) == OK && d == 250)
    #expect(ast_config_set_float(cfg, key(AST_CONFIG_DISTILL_LR_IMG), .nan) == status(AST_ERR_NON_FINITE))
    #expect(ast_config_set_float(cfg, key(AST_CONFIG_DISTILL_LR_IMG), -.infinity) == status(AST_ERR_NON_FINITE))
    #expect(ast_config_set_float(cfg, key(AST_CONFIG_DISTILL_INNER_MOMENTUM), 1.0) == status(AST_ERR_OUT_OF_RANGE))
    #expect(lastError().contains("distill.inner_momentum"))
    #expect(ast_config_set_int(cfg, key(AST_CONFIG_DISTILL_LR_IMG), 1) == status(AST_ERR_WRONG_TYPE))
    var i: Int64 = 0
    #expect(ast_config_get_int(cfg, key(AST_CONFIG_DISTILL_LR_IMG), &i) == status(AST_ERR_WRONG_TYPE))
    #expect(ast_config_get_float(cfg, key(AST_CONFIG_DISTILL_LR_IMG), &d) == OK && d == 250)
    // ints
    #expect(ast_config_set_int(cfg, key(AST_CONFIG_DISTILL_IPC), 10) == OK)
    #expect(ast_config_set_int(cfg, key(AST_CONFIG_DISTILL_IPC), 0) == status(AST_ERR_OUT_OF_RANGE))
    #expect(ast_config_get_int(cfg, key(AST_CONFIG_DISTILL_IPC), &i) == OK && i == 10)
    #expect(ast_config_set_int(cfg, key(AST_CONFIG_EVAL_BASELINE), 2) == status(AST_ERR_OUT_OF_RANGE))
    // strings
    #expect(ast_config_set_string(cfg, key(AST_CONFIG_EXPERTS_KIND), "mtt") == OK)
    #expect(getString(cfg, AST_CONFIG_EXPERTS_KIND) == "mtt")
    #expect(ast_config_set_string(cfg, key(AST_CONFIG_EXPERTS_KIND), "sgd") == status(AST_ERR_OUT_OF_RANGE))
    #expect(lastError().contains("mtt, ast"))
    #expect(
        ast_config_set_string(cfg, key(AST_CONFIG_DISTILL_AUGMENTATION), "flip_warp")
            == status(AST_ERR_INVALID_ARGUMENT))
    #expect(ast_config_set_string(cfg, key(AST_CONFIG_DISTILL_AUGMENTATION), "flip_crop") == OK)
    #expect(ast_config_set_string(cfg, key(AST_CONFIG_DATA_DIR), "/data/fashion") == OK)
    #expect(ast_config_set_string(cfg, key(AST_CONFIG_DATA_DIR), nil) == status(AST_ERR_NULL_POINTER))
    let invalidUTF8: [CChar] = [0x66, -1, -2, 0]
    #expect(ast_config_set_string(cfg, key(AST_CONFIG_DATA_DIR), invalidUTF8) == status(AST_ERR_INVALID_ARGUMENT))
    #expect(lastError().contains("UTF-8"))
    let long = String(repeating: "x", count: Int(AST_MAX_STRING_LENGTH) + 1)
    #expect(ast_config_set_string(cfg, key(AST_CONFIG_DATA_DIR), long) == status(AST_ERR_INVALID_ARGUMENT))
    #expect(getString(cfg, AST_CONFIG_DATA_DIR) == "/data/fashion")
    #expect(ast_config_set_string(cfg, key(AST_CONFIG_WIDTH), "8") == status(AST_ERR_WRONG_TYPE))
    #expect(ast_config_get_float(cfg, key(AST_CONFIG_DATA_DIR), &d) == status(AST_ERR_WRONG_TYPE))
    #expect(ast_config_set_string(cfg, 4242, "x") == status(AST_ERR_UNKNOWN_KEY))
    // get_string into a small buffer: truncated, NUL-terminated, full length reported
    var small = [CChar](repeating: 1, count: 4)
    var length: Int64 = 0
    #expect(ast_config_get_string(cfg, key(AST_CONFIG_DATA_DIR), &small, 4, &length) == OK)
    #expect(length == 13 && string(small) == "/da")
    #expect(ast_config_get_string(cfg, key(AST_CONFIG_DATA_DIR), nil, 4, &length) == status(AST_ERR_NULL_POINTER))
    #expect(
        ast_config_get_string(cfg, key(AST_CONFIG_DATA_DIR), &small, -1, &length) == status(AST_ERR_INVALID_ARGUMENT))
    #expect(ast_config_get_string(cfg, key(AST_CONFIG_DATA_DIR), &small, 4, nil) == status(AST_ERR_NULL_POINTER))
    // describe
    var choices: UnsafePointer<CChar>?
    #expect(ast_config_describe(key(AST_CONFIG_DATA_PREPROCESSING), nil, nil, &choices) == OK)
    #expect(String(cString: choices!) == "none|normalize|zca")
    #expect(ast_config_describe(77, nil, nil, nil) == status(AST_ERR_UNKNOWN_KEY))
}

@Test func presetsAndJSONRoundTrip() throws {
    var count: Int32 = 0
    #expect(ast_config_presets(nil, 0, &count) == OK)
    var names = [UnsafePointer<CChar>?](repeating: nil, count: Int(count))
    #expect(ast_config_presets(&names, count, &count) == OK)
    #expect(names.map { String(cString: $0!) } == RunConfiguration.presetNames)

    let cfg = newConfig()
    defer { ast_config_free(cfg) }
    for name in RunConfiguration.presetNames {
        #expect(ast_config_load_preset(cfg, name) == OK, "\(name): \(lastError())")
    }
    #expect(ast_config_load_preset(cfg, "quick") == OK)
    var v: Int64 = 0
    #expect(ast_config_get_int(cfg, key(AST_CONFIG_CHANNELS), &v) == OK && v == 1)
    #expect(ast_config_get_int(cfg, key(AST_CONFIG_WIDTH), &v) == OK && v == 16)
    #expect(ast_config_get_int(cfg, key(AST_CONFIG_EXPERTS_COUNT), &v) == OK && v == 3)
    #expect(ast_config_load_preset(cfg, "cifar11-ipc1") == status(AST_ERR_INVALID_ARGUMENT))
    #expect(lastError().contains("quick"))
    #expect(ast_config_load_preset(cfg, nil) == status(AST_ERR_NULL_POINTER))
    #expect(ast_config_get_int(cfg, key(AST_CONFIG_WIDTH), &v) == OK && v == 16)  // unchanged

    // to_json -> apply_json on a default config gives the same settings; the CLI reads it too.
    #expect(ast_config_set_int(cfg, key(AST_CONFIG_SEED), 123_456_789) == OK)
    #expect(ast_config_set_int(cfg, key(AST_CONFIG_NORM), Int64(AST_NORM_BATCH)) == OK)
    let json = toJSON(cfg)
    #expect(json.contains("\"network.norm\": \"batch\""))
    #expect(json.contains("\"distill.lr_img\": 100"))
    let other = newConfig()
    defer { ast_config_free(other) }
    #expect(ast_config_apply_json(other, json) == OK, "\(lastError())")
    #expect(toJSON(other) == json)
    var cli = try RunConfiguration.preset("quick")
    try cli.apply(json: try JSONValueParse(json), source: "test")
    #expect(cli.seed == 123_456_789 && cli.network.norm == .batch && cli.network.width == 16)

    // A file; partial; legacy short names; all-or-nothing on errors.
    let dir = temporaryDirectory("json")
    defer { removeTree(dir) }
    let path = dir + "/settings.json"
    let f = fopen(path, "w")!
    fputs("{\"distill.ipc\": 3, \"width\": 8, \"eval.baseline\": false, \"network.pool\": \"max\"}", f)
    fclose(f)
    #expect(ast_config_load_json(other, path) == OK, "\(lastError())")
    #expect(ast_config_get_int(other, key(AST_CONFIG_DISTILL_IPC), &v) == OK && v == 3)
    #expect(ast_config_get_int(other, key(AST_CONFIG_WIDTH), &v) == OK && v == 8)
    #expect(ast_config_get_int(other, key(AST_CONFIG_EVAL_BASELINE), &v) == OK && v == 0)
    #expect(ast_config_get_int(other, key(AST_CONFIG_POOL), &v) == OK && v == Int64(AST_POOL_MAX))
    let before = toJSON(other)
    #expect(ast_config_apply_json(other, "{\"distill.ipc\": 4, \"no.such\": 1}") == status(AST_ERR_UNKNOWN_KEY))
    #expect(lastError().contains("no.such"))
    #expect(
        ast_config_apply_json(other, "{\"distill.ipc\": 4, \"network.width\": 5000}") == status(AST_ERR_OUT_OF_RANGE))
    #expect(ast_config_apply_json(other, "{\"distill.ipc\": 2.5}") == status(AST_ERR_WRONG_TYPE))
    #expect(ast_config_apply_json(other, "{\"distill.lr_img\": \"fast\"}") == status(AST_ERR_WRONG_TYPE))
    #expect(ast_config_apply_json(other, "{\"network.norm\": \"group\"}") == status(AST_ERR_OUT_OF_RANGE))
    #expect(ast_config_apply_json(other, "[1, 2]") == status(AST_ERR_FORMAT))
    #expect(ast_config_apply_json(other, "{\"distill.ipc\": ") == status(AST_ERR_FORMAT))
    #expect(ast_config_load_json(other, dir + "/missing.json") == status(AST_ERR_IO))
    #expect(lastError().contains("missing.json"))
    #expect(ast_config_load_json(other, dir) == status(AST_ERR_IO))
    #expect(toJSON(other) == before)
    // buffer conventions
    var length: Int64 = 0
    var buffer = [CChar](repeating: 0, count: 10)
    #expect(ast_config_to_json(other, &buffer, 10, &length) == OK)
    #expect(length > 10 && string(buffer).count == 9)
    #expect(ast_config_to_json(nil, &buffer, 10, &length) == status(AST_ERR_NULL_POINTER))
    #expect(ast_config_to_json(other, &buffer, -2, &length) == status(AST_ERR_INVALID_ARGUMENT))
}

private func JSONValueParse(_ text: String) throws -> JSONValue { try JSONValue.parse(text) }

// MARK: - Runs on caller memory

/// A tiny separable-ish dataset: 1x8x8 images, 3 classes.
private func makeDataset(count: Int, seed: UInt64) -> OpaquePointer? {
    var images = randomFloats(count * 64, seed: seed)
    let labels = (0..<count).map { Int32($0 % 3) }
    for i in 0..<count { for j in 0..<8 { images[i * 64 + Int(labels[i]) * 16 + j] += 2 } }
    var ds: OpaquePointer?
    #expect(
        ast_dataset_create(
            images, Int64(images.count), labels, Int32(AST_LABELS_INT32), Int64(count),
            Int64(count), 1, 8, 8, 3, &ds) == OK)
    return ds
}

private func tinyRunConfig() -> OpaquePointer? {
    let cfg = newConfig()
    let ints: [(Int, Int64)] = [
        (AST_CONFIG_CHANNELS, 1), (AST_CONFIG_IMAGE_SIZE, 8), (AST_CONFIG_CLASSES, 3),
        (AST_CONFIG_WIDTH, 4), (AST_CONFIG_DEPTH, 2), (AST_CONFIG_SEED, 7),
        (AST_CONFIG_EXPERTS_COUNT, 2), (AST_CONFIG_EXPERTS_EPOCHS, 3), (AST_CONFIG_EXPERTS_BATCH, 10),
        (AST_CONFIG_DISTILL_SYN_STEPS, 4), (AST_CONFIG_DISTILL_MAX_START_EPOCH, 2),
        (AST_CONFIG_DISTILL_ITERATIONS, 6), (AST_CONFIG_DISTILL_CHECKPOINT_EVERY, 2),
        (AST_CONFIG_EVAL_MODELS, 2), (AST_CONFIG_EVAL_EPOCHS, 3)
    ]
    for (k, v) in ints { #expect(ast_config_set_int(cfg, key(k), v) == OK, "\(k): \(lastError())") }
    #expect(ast_config_set_float(cfg, key(AST_CONFIG_DISTILL_LR_IMG), 10) == OK)
    return cfg
}

private final class RunProgressLog {
    var stages: [Int32] = []
    var iterations: [Int64] = []
    var messages: [String] = []
    var cancelAtIteration: Int64 = 0
    var run: OpaquePointer? = nil
    var reentrant: ast_status? = nil
    var badStructSize = false
}

private let logProgress: ast_progress_fn = { report, user in
    guard let report, let user else { return 1 }
    let log = Unmanaged<RunProgressLog>.fromOpaque(user).takeUnretainedValue()
    let p = report.pointee
    if Int(p.struct_size) != MemoryLayout<ast_progress>.size { log.badStructSize = true }
    log.stages.append(p.stage)
    if let m = p.message { log.messages.append(String(cString: m)) }
    if p.stage == Int32(AST_STAGE_DISTILL_ITERATION) {
        log.iterations.append(p.step)
        if log.reentrant == nil, let run = log.run {
            log.reentrant = ast_run_write_outputs(run)  // must fail: the run is busy
        }
        if log.cancelAtIteration > 0 && p.step >= log.cancelAtIteration { return 1 }
    }
    return 0
}

private func distilledImages(_ run: OpaquePointer?, space: Int32 = Int32(AST_IMAGES_TRAINING)) -> [Float] {
    var n: Int64 = 0, c: Int64 = 0, h: Int64 = 0, w: Int64 = 0
    #expect(ast_run_distilled_shape(run, &n, &c, &h, &w, nil) == OK, "\(lastError())")
    var images = [Float](repeating: 0, count: Int(n * c * h * w))
    #expect(ast_run_copy_distilled_images(run, space, &images, Int64(images.count)) == OK)
    return images
}

@Test func runOnCallerMemoryResumesAfterCancelAndMatchesAnUninterruptedRun() throws {
    let train = makeDataset(count: 30, seed: 1), test = makeDataset(count: 12, seed: 2)
    let cfg = tinyRunConfig()
    defer { ast_config_free(cfg) }
    let dirA = temporaryDirectory("runA"), dirB = temporaryDirectory("runB")
    defer { removeTree(dirA); removeTree(dirB) }

    // A: uninterrupted, with the whole pipeline in one call.
    var a: OpaquePointer?
    #expect(ast_run_create_with_data(cfg, dirA, train, test, &a) == OK, "\(lastError())")
    let logA = RunProgressLog()
    let st = withExtendedLifetime(logA) { ast_run_all(a, logProgress, Unmanaged.passUnretained(logA).toOpaque()) }
    #expect(st == OK, "\(lastError())")
    #expect(!logA.badStructSize)
    #expect(logA.iterations == [1, 2, 3, 4, 5, 6])
    #expect(logA.stages.contains(Int32(AST_STAGE_EXPERT_EPOCH)) && logA.stages.contains(Int32(AST_STAGE_EVALUATED)))
    #expect(logA.messages.contains { $0.hasSuffix("checkpoint.safetensors") })
    for file in ["distilled.safetensors", "distilled.png", "report.json", "experts/expert_00000.safetensors"] {
        #expect(fileExists(dirA + "/" + file), "\(file)")
    }
    var mean = 0.0, std = 0.0, models: Int64 = 0
    var accuracies = [Double](repeating: -1, count: 4)
    #expect(ast_run_evaluation(a, Int32(AST_RESULT_DISTILLED), &mean, &std, &accuracies, 4, &models) == OK)
    #expect(models == 2 && (0...1).contains(mean) && accuracies[0] >= 0 && accuracies[2] == -1)
    #expect(ast_run_evaluation(a, Int32(AST_RESULT_RANDOM_REAL), &mean, nil, nil, 0, &models) == OK && models == 2)
    #expect(ast_run_evaluation(a, 2, &mean, nil, nil, 0, &models) == status(AST_ERR_INVALID_ARGUMENT))
    var labels = [Int32](repeating: -1, count: 3)
    #expect(ast_run_copy_distilled_labels(a, &labels, 3) == OK && labels == [0, 1, 2])
    var alpha: Float = 0, iterations: Int64 = 0
    #expect(ast_run_step_size(a, &alpha, &iterations) == OK && alpha > 0 && iterations == 6)
    var lossCount: Int64 = 0
    #expect(ast_run_loss_history(a, nil, 0, &lossCount) == OK && lossCount == 6)
    let imagesA = distilledImages(a)
    let pixelsA = distilledImages(a, space: Int32(AST_IMAGES_PIXEL))
    #expect(imagesA.count == 3 * 64 && pixelsA != imagesA)  // normalize preprocessing by default
    ast_run_free(a)

    // B: experts in two ranges, distillation cancelled at iteration 3, resumed by a new handle.
    var b: OpaquePointer?
    #expect(ast_run_create_with_data(cfg, dirB, train, test, &b) == OK)
    #expect(ast_run_distilled_shape(b, nil, nil, nil, nil, nil) == status(AST_ERR_INVALID_ARGUMENT))
    #expect(String(cString: ast_run_last_error(b)).contains("no distilled set"))
    #expect(ast_run_distill(b, nil, nil) == status(AST_ERR_IO))  // no experts yet
    var complete: Int64 = -1
    #expect(ast_run_complete_experts(b, &complete) == OK && complete == 0)
    #expect(ast_run_generate_experts(b, 1, 1, nil, nil) == OK, "\(lastError())")
    #expect(ast_run_generate_experts(b, 0, -1, nil, nil) == OK)
    #expect(ast_run_complete_experts(b, &complete) == OK && complete == 2)
    let logB = RunProgressLog()
    logB.cancelAtIteration = 3
    logB.run = b
    let cancelled = withExtendedLifetime(logB) {
        ast_run_distill(b, logProgress, Unmanaged.passUnretained(logB).toOpaque())
    }
    #expect(cancelled == status(AST_ERR_CANCELLED))
    #expect(logB.reentrant == status(AST_ERR_INVALID_ARGUMENT))
    #expect(logB.iterations == [1, 2, 3])
    #expect(ast_run_step_size(b, nil, &iterations) == OK && iterations == 3)  // the checkpointed state
    ast_run_free(b)
    var b2: OpaquePointer?
    #expect(ast_run_create_with_data(cfg, dirB, train, test, &b2) == OK)
    let logB2 = RunProgressLog()
    #expect(
        withExtendedLifetime(logB2) { ast_run_distill(b2, logProgress, Unmanaged.passUnretained(logB2).toOpaque()) }
            == OK)
    #expect(logB2.iterations == [4, 5, 6])
    #expect(logB2.messages.contains { $0.contains("resuming distillation after iteration 3") })
    #expect(distilledImages(b2) == imagesA)
    // Evaluate / outputs of the resumed run; a repeated distill returns at once.
    var dm = 0.0, bm = 0.0
    #expect(ast_run_evaluate(b2, nil, nil, &dm, nil, &bm, nil) == OK)
    #expect((0...1).contains(dm) && (0...1).contains(bm))
    #expect(ast_run_write_outputs(b2) == OK)
    #expect(ast_run_distill(b2, nil, nil) == OK)
    ast_run_free(b2)
    ast_dataset_free(train)
    ast_dataset_free(test)
}

@Test func runCreationChecksSettingsBeforeAnyWork() {
    let train = makeDataset(count: 30, seed: 1), test = makeDataset(count: 12, seed: 2)
    defer { ast_dataset_free(train); ast_dataset_free(test) }
    let cfg = tinyRunConfig()
    defer { ast_config_free(cfg) }
    let dir = temporaryDirectory("create")
    defer { removeTree(dir) }
    var run: OpaquePointer? = OpaquePointer(bitPattern: 1)
    func expectFailure(
        _ st: ast_status, _ want: Int, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(st == status(want), "\(lastError())", sourceLocation: sourceLocation)
        #expect(lastError().contains(fragment), "\(lastError())", sourceLocation: sourceLocation)
        #expect(run == nil, sourceLocation: sourceLocation)
    }
    expectFailure(ast_run_create(nil, dir, &run), AST_ERR_NULL_POINTER, "config is NULL")
    expectFailure(ast_run_create(cfg, nil, &run), AST_ERR_NULL_POINTER, "output_directory is NULL")
    #expect(ast_run_create(cfg, dir, nil) == status(AST_ERR_NULL_POINTER))
    expectFailure(ast_run_create(cfg, "", &run), AST_ERR_INVALID_ARGUMENT, "output_directory is empty")
    // default dataset fashion-mnist (1x28x28) vs the 1x8x8 network
    expectFailure(ast_run_create(cfg, dir, &run), AST_ERR_INVALID_ARGUMENT, "data.dataset fashion-mnist has 1x28x28")
    #expect(ast_config_set_string(cfg, key(AST_CONFIG_DATA_DATASET), "cifar10") == OK)
    expectFailure(ast_run_create(cfg, dir, &run), AST_ERR_INVALID_ARGUMENT, "cifar10 needs data.dir")
    #expect(ast_config_set_string(cfg, key(AST_CONFIG_DATA_DATASET), "fashion-mnist") == OK)
    expectFailure(ast_run_create_with_data(cfg, dir, nil, test, &run), AST_ERR_NULL_POINTER, "train is NULL")
    expectFailure(ast_run_create_with_data(cfg, dir, train, nil, &run), AST_ERR_NULL_POINTER, "test is NULL")
    expectFailure(ast_run_create_with_data(cfg, dir, train, cfg, &run), AST_ERR_INVALID_ARGUMENT, "not an ast_dataset")
    // M + T+ beyond the stored epochs
    #expect(ast_config_set_int(cfg, key(AST_CONFIG_DISTILL_MAX_START_EPOCH), 3) == OK)
    expectFailure(
        ast_run_create_with_data(cfg, dir, train, test, &run), AST_ERR_INVALID_ARGUMENT,
        "distill.max_start_epoch 3 + distill.expert_epochs 2 reaches epoch 4, beyond the 3 stored epochs")
    #expect(ast_config_set_int(cfg, key(AST_CONFIG_DISTILL_MAX_START_EPOCH), 2) == OK)
    // ipc larger than a class
    #expect(ast_config_set_int(cfg, key(AST_CONFIG_DISTILL_IPC), 11) == OK)
    expectFailure(
        ast_run_create_with_data(cfg, dir, train, test, &run), AST_ERR_INVALID_ARGUMENT,
        "distill.ipc 11 is larger than the 10 images of class 0")
    #expect(ast_config_set_int(cfg, key(AST_CONFIG_DISTILL_IPC), 1) == OK)
    // sizes
    #expect(ast_config_set_int(cfg, key(AST_CONFIG_EXPERTS_BATCH), 100_000) == OK)
    #expect(ast_config_set_int(cfg, key(AST_CONFIG_WIDTH), 1024) == OK)
    expectFailure(ast_run_create_with_data(cfg, dir, train, test, &run), AST_ERR_OUT_OF_MEMORY, "experts.batch")
    #expect(ast_config_set_int(cfg, key(AST_CONFIG_WIDTH), 4) == OK)
    #expect(ast_config_set_int(cfg, key(AST_CONFIG_EXPERTS_BATCH), 10) == OK)
    // wrong data shape
    #expect(ast_config_set_int(cfg, key(AST_CONFIG_CLASSES), 4) == OK)
    expectFailure(ast_run_create_with_data(cfg, dir, train, test, &run), AST_ERR_SHAPE_MISMATCH, "train has 3 classes")
    #expect(ast_config_set_int(cfg, key(AST_CONFIG_CLASSES), 3) == OK)
    // the good one, and argument checks of the steps
    run = nil
    #expect(ast_run_create_with_data(cfg, dir, train, test, &run) == OK)
    #expect(ast_run_generate_experts(run, -1, 1, nil, nil) == status(AST_ERR_INVALID_ARGUMENT))
    #expect(ast_run_generate_experts(run, 0, -2, nil, nil) == status(AST_ERR_INVALID_ARGUMENT))
    #expect(ast_run_generate_experts(run, Int64(Int32.max), 5, nil, nil) == status(AST_ERR_INVALID_ARGUMENT))
    #expect(ast_run_generate_experts(run, 5, 0, nil, nil) == OK)  // empty range: nothing to do
    #expect(ast_run_generate_experts(nil, 0, 1, nil, nil) == status(AST_ERR_NULL_POINTER))
    #expect(ast_run_evaluate(run, nil, nil, nil, nil, nil, nil) == status(AST_ERR_INVALID_ARGUMENT))
    #expect(ast_run_write_outputs(run) == status(AST_ERR_INVALID_ARGUMENT))
    var images = [Float](repeating: 0, count: 4)
    #expect(ast_run_copy_distilled_images(run, 5, &images, 4) == status(AST_ERR_INVALID_ARGUMENT))
    #expect(ast_run_copy_distilled_images(run, 0, nil, 4) == status(AST_ERR_NULL_POINTER))
    var count: Int64 = 0
    #expect(ast_run_loss_history(run, nil, 0, nil) == status(AST_ERR_NULL_POINTER))
    #expect(ast_run_evaluation(run, 0, nil, nil, nil, 0, &count) == status(AST_ERR_INVALID_ARGUMENT))
    var copy: OpaquePointer?
    #expect(ast_run_get_config(run, &copy) == OK)
    var v: Int64 = 0
    #expect(ast_config_get_int(copy, key(AST_CONFIG_EXPERTS_COUNT), &v) == OK && v == 2)
    ast_config_free(copy)
    #expect(String(cString: ast_run_last_error(nil)).contains("run is NULL"))
    ast_run_free(run)
    ast_run_free(nil)
}

// MARK: - Matching step

private struct MatchingProblem {
    var net: OpaquePointer?
    var p = 0
    var start: [Float] = [], target: [Float] = [], images: [Float] = []
    var labels: [Int32] = [0, 1, 2, 0, 1, 2]
    let count = 6
}

private func matchingProblem() -> MatchingProblem {
    var m = MatchingProblem()
    var cfg: OpaquePointer?
    #expect(ast_config_create(&cfg) == OK)
    for (k, v) in [
        (AST_CONFIG_CHANNELS, 1), (AST_CONFIG_IMAGE_SIZE, 8), (AST_CONFIG_CLASSES, 3),
        (AST_CONFIG_WIDTH, 4), (AST_CONFIG_DEPTH, 2)
    ] as [(Int, Int64)] {
        #expect(ast_config_set_int(cfg, key(k), v) == OK)
    }
    #expect(ast_network_create(cfg, &m.net) == OK)
    ast_config_free(cfg)
    var p: Int64 = 0
    #expect(ast_network_parameter_count(m.net, &p) == OK)
    m.p = Int(p)
    m.start = [Float](repeating: 0, count: m.p)
    #expect(ast_network_init_parameters(m.net, 3, &m.start, p) == OK)
    m.target = zip(m.start, randomFloats(m.p, seed: 4)).map { $0 + 0.05 * $1 }
    m.images = randomFloats(m.count * 64, seed: 5)
    return m
}

@Test func matchingStepEqualsTrajectoryMatchingAndItsDoubleResult() throws {
    let m = matchingProblem()
    defer { ast_network_free(m.net) }
    let steps = 5, batch = 4
    var flat = [Int64](repeating: -1, count: steps * batch)
    #expect(ast_matching_minibatches(Int64(m.count), Int64(batch), Int64(steps), 11, &flat, Int64(flat.count)) == OK)
    let batches = (0..<steps).map { s in (0..<batch).map { Int(flat[s * batch + $0]) }.filter { $0 >= 0 } }
    // Chunks of 4 of permutations of 0..<6, popped from the end: 2, 4, 2, 4, 2 images (rows padded with -1).
    #expect(batches.map(\.count) == [2, 4, 2, 4, 2])
    #expect(Set(batches[0] + batches[1]) == Set(0..<6) && Set(batches[2] + batches[3]) == Set(0..<6))
    #expect(flat.filter { $0 == -1 }.count == 3 * 2)

    let targetsK = zip(m.start, m.target).map { 0.5 * ($0 + $1) }
    var options = ast_matching_options()
    options.struct_size = Int32(MemoryLayout<ast_matching_options>.size)
    options.inner_momentum = 0.5
    options.inner_loss_weight = 1.3
    var interSteps: [Int64] = [2]
    var interWeights: [Float] = [0.7]
    var loss: Float = 0, dAlpha: Float = 0
    var dImages = [Float](repeating: 0, count: m.images.count)
    var final_ = [Float](repeating: 0, count: m.p)
    let st = targetsK.withUnsafeBufferPointer { tk in
        interSteps.withUnsafeMutableBufferPointer { sp in
            interWeights.withUnsafeMutableBufferPointer { wp in
                options.intermediate_count = 1
                options.intermediate_targets = tk.baseAddress
                options.intermediate_steps = UnsafePointer(sp.baseAddress)
                options.intermediate_weights = UnsafePointer(wp.baseAddress)
                return ast_matching_step(
                    m.net, m.start, m.target, Int64(m.p), m.images, Int64(m.images.count),
                    m.labels, Int64(m.count), 0.02, Int64(steps), Int64(batch), 11, nil, 0,
                    &options, &loss, &dImages, Int64(dImages.count), &dAlpha, &final_, Int64(m.p))
            }
        }
    }
    #expect(st == OK, "\(lastError())")

    // The same computation in Swift, Float: identical.
    let network = try ConvNet(ConvNetConfig(channels: 1, imageSize: 8, classes: 3, width: 4, depth: 2))
    func run<S: TensorScalar>(_: S.Type) throws -> MatchingResult<S> {
        let t = TrajectoryMatching<S>(
            network: network, labels: m.labels, learningRate: S(0.02), minibatches: batches,
            momentum: S(0.5), innerLossWeight: S(1.3),
            intermediateTargets: [
                IntermediateTarget(
                    step: 2, target: try Tensor(shape: [m.p], scalars: targetsK.map { S($0) }), weight: S(Float(0.7)))
            ])
        return try t.run(
            images: try Tensor(shape: [m.count, 1, 8, 8], scalars: m.images.map { S($0) }),
            start: try Tensor(shape: [m.p], scalars: m.start.map { S($0) }),
            target: try Tensor(shape: [m.p], scalars: m.target.map { S($0) }))
    }
    let f = try run(Float.self)
    #expect(f.loss == loss && f.learningRateGradient == dAlpha)
    #expect(f.imageGradient.scalars == dImages && f.finalParameters.scalars == final_)
    // And in Double: float tolerances (relative 1e-3 of the largest entry, absolute 1e-6).
    let d = try run(Double.self)
    #expect(abs(Double(loss) - d.loss) <= 1e-4 * abs(d.loss) + 1e-7)
    #expect(abs(Double(dAlpha) - d.learningRateGradient) <= 1e-3 * abs(d.learningRateGradient) + 1e-6)
    let scale = d.imageGradient.scalars.map(abs).max() ?? 1
    for (x, y) in zip(dImages, d.imageGradient.scalars) { #expect(abs(Double(x) - y) <= 1e-3 * scale + 1e-7) }

    // Explicit minibatches give the same result as the ones drawn from the seed (no options).
    var loss1: Float = 0, loss2: Float = 0, a1: Float = 0, a2: Float = 0
    var g1 = dImages, g2 = dImages
    #expect(
        ast_matching_step(
            m.net, m.start, m.target, Int64(m.p), m.images, Int64(m.images.count), m.labels, Int64(m.count),
            0.02, Int64(steps), Int64(batch), 11, nil, 0, nil, &loss1, &g1, Int64(g1.count), &a1, nil, 0) == OK)
    #expect(
        ast_matching_step(
            m.net, m.start, m.target, Int64(m.p), m.images, Int64(m.images.count), m.labels, Int64(m.count),
            0.02, Int64(steps), Int64(batch), 999, flat, Int64(flat.count), nil, &loss2, &g2, Int64(g2.count), &a2, nil,
            0) == OK)
    #expect(loss1 == loss2 && a1 == a2 && g1 == g2)
    // Augmentation is drawn from the seed: reproducible, and it changes the result.
    var aug = ast_matching_options()
    aug.struct_size = Int32(MemoryLayout<ast_matching_options>.size)
    aug.inner_loss_weight = 1
    var loss3: Float = 0, loss4: Float = 0
    let strategy = "flip_crop"
    strategy.withCString { s in
        aug.augmentation = s
        #expect(
            ast_matching_step(
                m.net, m.start, m.target, Int64(m.p), m.images, Int64(m.images.count), m.labels, Int64(m.count),
                0.02, Int64(steps), Int64(batch), 11, nil, 0, &aug, &loss3, &g1, Int64(g1.count), &a1, nil, 0) == OK)
        #expect(
            ast_matching_step(
                m.net, m.start, m.target, Int64(m.p), m.images, Int64(m.images.count), m.labels, Int64(m.count),
                0.02, Int64(steps), Int64(batch), 11, nil, 0, &aug, &loss4, &g2, Int64(g2.count), &a2, nil, 0) == OK)
    }
    #expect(loss3 == loss4 && loss3 != loss1)
}

@Test func matchingStepRejectsBadInput() {
    let m = matchingProblem()
    defer { ast_network_free(m.net) }
    var loss: Float = 0, dAlpha: Float = 0
    var g = [Float](repeating: 0, count: m.images.count)
    let n = Int64(m.count), p = Int64(m.p), len = Int64(m.images.count)
    func call(
        net: OpaquePointer? = nil, start: [Float]? = nil, target: [Float]? = nil, pLen: Int64? = nil,
        images: [Float]? = nil, labels: [Int32]? = nil, count: Int64? = nil, alpha: Float = 0.01, steps: Int64 = 3,
        batch: Int64 = 0, minibatches: [Int64]? = nil, mbLen: Int64 = 0,
        options: UnsafePointer<ast_matching_options>? = nil, gLen: Int64? = nil, nullOut: Bool = false
    ) -> ast_status {
        withUnsafeMutablePointer(to: &loss) { lossPointer in
            ast_matching_step(
                net ?? m.net, start ?? m.start, target ?? m.target, pLen ?? p, images ?? m.images, len,
                labels ?? m.labels, count ?? n, alpha, steps, batch, 1, minibatches, mbLen, options,
                nullOut ? nil : lossPointer, &g, gLen ?? len, &dAlpha, nil, 0)
        }
    }
    func expect(_ st: ast_status, _ want: Int, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(st == status(want), "\(lastError())", sourceLocation: sourceLocation)
        #expect(lastError().contains(fragment), "\(lastError())", sourceLocation: sourceLocation)
    }
    expect(
        ast_matching_step(
            nil, m.start, m.target, p, m.images, len, m.labels, n, 0.01, 3, 0, 1, nil, 0, nil, &loss, &g, len, &dAlpha,
            nil, 0),
        AST_ERR_NULL_POINTER, "network is NULL")
    expect(
        ast_matching_step(
            m.net, nil, m.target, p, m.images, len, m.labels, n, 0.01, 3, 0, 1, nil, 0, nil, &loss, &g, len, &dAlpha,
            nil, 0),
        AST_ERR_NULL_POINTER, "start is NULL")
    expect(
        ast_matching_step(
            m.net, m.start, m.target, p, m.images, len, m.labels, n, 0.01, 3, 0, 1, nil, 0, nil, &loss, &g, len, nil,
            nil, 0),
        AST_ERR_NULL_POINTER, "out_step_size_gradient is NULL")
    expect(call(nullOut: true), AST_ERR_NULL_POINTER, "out_loss is NULL")
    expect(call(pLen: p - 1), AST_ERR_SHAPE_MISMATCH, "parameters_len")
    expect(call(gLen: len - 1), AST_ERR_SHAPE_MISMATCH, "image_gradient_len")
    expect(call(count: 0), AST_ERR_INVALID_ARGUMENT, "count")
    expect(call(count: 5), AST_ERR_SHAPE_MISMATCH, "images_len")
    expect(call(alpha: .nan), AST_ERR_NON_FINITE, "step_size")
    expect(call(alpha: -0.1), AST_ERR_INVALID_ARGUMENT, "step_size")
    expect(call(steps: 0), AST_ERR_INVALID_ARGUMENT, "steps")
    expect(call(steps: 10_001), AST_ERR_INVALID_ARGUMENT, "steps")
    expect(call(batch: -1), AST_ERR_INVALID_ARGUMENT, "batch_syn")
    expect(call(labels: [0, 1, 3, 0, 1, 2]), AST_ERR_INVALID_ARGUMENT, "labels[2]")
    var nanImages = m.images
    nanImages[9] = .infinity
    expect(call(images: nanImages), AST_ERR_NON_FINITE, "images[9]")
    expect(call(target: m.start), AST_ERR_INVALID_ARGUMENT, "coincide")
    expect(call(minibatches: [0, 1, 2], mbLen: 3), AST_ERR_SHAPE_MISMATCH, "minibatches_len")
    expect(call(batch: 1, minibatches: [0, 6, 1], mbLen: 3), AST_ERR_INVALID_ARGUMENT, "minibatches[1] is 6")
    expect(call(batch: 2, minibatches: [0, -1, -1, -1, 1, 2], mbLen: 6), AST_ERR_INVALID_ARGUMENT, "row 1")
    expect(call(batch: 1, minibatches: [0, -7, 1], mbLen: 3), AST_ERR_INVALID_ARGUMENT, "minibatches[1] is -7")
    expect(call(mbLen: 4), AST_ERR_SHAPE_MISMATCH, "minibatches is NULL")
    var o = ast_matching_options()
    o.struct_size = 8
    expect(call(options: &o), AST_ERR_INVALID_ARGUMENT, "struct_size")
    o.struct_size = Int32(MemoryLayout<ast_matching_options>.size + 8)
    expect(call(options: &o), AST_ERR_UNSUPPORTED, "struct_size")
    o.struct_size = Int32(MemoryLayout<ast_matching_options>.size)
    o.inner_loss_weight = 0
    expect(call(options: &o), AST_ERR_INVALID_ARGUMENT, "inner_loss_weight")
    o.inner_loss_weight = 1
    o.inner_momentum = 1
    expect(call(options: &o), AST_ERR_INVALID_ARGUMENT, "inner_momentum")
    o.inner_momentum = .nan
    expect(call(options: &o), AST_ERR_NON_FINITE, "inner_momentum")
    o.inner_momentum = 0
    o.intermediate_count = 1
    expect(call(options: &o), AST_ERR_NULL_POINTER, "intermediate_targets")
    o.intermediate_count = 3
    expect(call(options: &o), AST_ERR_INVALID_ARGUMENT, "intermediate_count")
    o.intermediate_count = 0
    "warp".withCString { s in
        o.augmentation = s
        expect(call(options: &o), AST_ERR_INVALID_ARGUMENT, "augmentation")
    }
    var out = [Int64](repeating: 0, count: 4)
    #expect(ast_matching_minibatches(6, 2, 3, 0, &out, 4) == status(AST_ERR_SHAPE_MISMATCH))
    #expect(ast_matching_minibatches(0, 2, 3, 0, &out, 4) == status(AST_ERR_INVALID_ARGUMENT))
    #expect(ast_matching_minibatches(6, 2, 2, 0, nil, 4) == status(AST_ERR_NULL_POINTER))
    #expect(ast_matching_minibatches(6, -2, 2, 0, &out, 4) == status(AST_ERR_INVALID_ARGUMENT))
    // still usable
    #expect(call() == OK)
}

/// The step-level API of distributed distillation: segments computed one by one (in any
/// order), summed in segment order and applied give exactly ast_run_distill's result with
/// distill.segments = 2; the writer's checkpoint lets a new handle continue.
@Test func segmentStepsEqualDistillWithSegments() throws {
    let train = makeDataset(count: 30, seed: 1), test = makeDataset(count: 12, seed: 2)
    defer { ast_dataset_free(train); ast_dataset_free(test) }
    let cfg = tinyRunConfig()
    defer { ast_config_free(cfg) }
    #expect(ast_config_set_int(cfg, key(AST_CONFIG_DISTILL_SEGMENTS), 2) == OK)
    var segments: Int64 = 0
    #expect(ast_config_get_int(cfg, key(AST_CONFIG_DISTILL_SEGMENTS), &segments) == OK && segments == 2)
    #expect(ast_config_set_int(cfg, key(AST_CONFIG_DISTILL_SEGMENTS), 0) == status(AST_ERR_OUT_OF_RANGE))
    let dirA = temporaryDirectory("segA"), dirB = temporaryDirectory("segB")
    defer { removeTree(dirA); removeTree(dirB) }

    var a: OpaquePointer?
    #expect(ast_run_create_with_data(cfg, dirA, train, test, &a) == OK, "\(lastError())")
    #expect(ast_run_generate_experts(a, 0, -1, nil, nil) == OK)
    #expect(ast_run_distill(a, nil, nil) == OK, "\(lastError())")
    let imagesA = distilledImages(a)
    ast_run_free(a)

    var b: OpaquePointer?
    #expect(ast_run_create_with_data(cfg, dirB, train, test, &b) == OK)
    #expect(ast_run_generate_experts(b, 0, -1, nil, nil) == OK)
    var g = [Float](repeating: 0, count: 2 + 3 * 64)
    #expect(ast_run_segment_gradient(b, 0, 0, &g, Int64(g.count)) == status(AST_ERR_INVALID_ARGUMENT))  // not begun
    var iteration: Int64 = -1, length: Int64 = 0
    #expect(ast_run_distill_begin(b, &iteration, &segments, &length) == OK, "\(lastError())")
    #expect(iteration == 0 && segments == 2 && length == 2 + 3 * 64)
    var g0 = [Float](repeating: 0, count: Int(length)), g1 = g0
    while iteration < 6 {
        #expect(ast_run_segment_gradient(b, iteration, 1, &g1, length) == OK, "\(lastError())")
        #expect(ast_run_segment_gradient(b, iteration, 0, &g0, length) == OK)
        #expect(g0 != g1 && g0[0] > 0)
        #expect(ast_run_segment_gradient(b, iteration + 1, 0, &g0, length) == status(AST_ERR_INVALID_ARGUMENT))
        #expect(ast_run_segment_gradient(b, iteration, 2, &g0, length) == status(AST_ERR_INVALID_ARGUMENT))
        #expect(ast_run_segment_gradient(b, iteration, 0, &g0, length - 1) == status(AST_ERR_SHAPE_MISMATCH))
        var sum = g0
        for i in 0..<sum.count { sum[i] += g1[i] }
        var bad = sum
        bad[5] = .nan
        #expect(ast_run_apply_gradient_sum(b, bad, length, 1) == status(AST_ERR_NON_FINITE))
        #expect(ast_run_apply_gradient_sum(b, sum, length - 1, 1) == status(AST_ERR_SHAPE_MISMATCH))
        #expect(ast_run_apply_gradient_sum(b, sum, length, 2) == status(AST_ERR_INVALID_ARGUMENT))
        #expect(ast_run_apply_gradient_sum(b, sum, length, 1) == OK, "\(lastError())")
        #expect(ast_run_distill_begin(b, &iteration, nil, nil) == OK)
    }
    #expect(iteration == 6)
    #expect(distilledImages(b) == imagesA)
    #expect(ast_run_segment_gradient(b, 6, 0, &g0, length) == status(AST_ERR_INVALID_ARGUMENT))  // complete
    #expect(ast_run_write_outputs(b) == OK)
    ast_run_free(b)
    var c: OpaquePointer?
    #expect(ast_run_create_with_data(cfg, dirB, train, test, &c) == OK)
    #expect(ast_run_distill_begin(c, &iteration, nil, nil) == OK && iteration == 6)  // the writer's checkpoint
    #expect(distilledImages(c) == imagesA)
    ast_run_free(c)
}

/// ast-distill --version prints ASTDistill's libastVersion: the same release as the header's.
@Test func cliVersionMatchesHeader() {
    #expect(libastVersion == AST_VERSION_STRING)
}
