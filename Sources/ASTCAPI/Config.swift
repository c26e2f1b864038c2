// ast_config: enum-keyed typed settings with defaults and bounds (zstd's setParameter +
// getBounds). The handle holds a whole `RunConfiguration`; the key table is
// `RunConfiguration.parameters` (one table for the CLI, config files, C and Python), except
// that keys 1-8 keep the C meaning of release 0.1 (int norm/pool enums, short bounds names,
// a 3x32x32 default network); since 0.2 their bounds are the table's too.

import ASTCore
import ASTData
import ASTDistill
import CAst
#if canImport(Glibc)
import Glibc
#endif

/// Address of a NUL-terminated copy of `s` that lives for the whole process (key names, help
/// texts), kept as an integer so the tables are Sendable.
private func immortalCString(_ s: String) -> UInt {
    UInt(bitPattern: strdup(s))  // 0 only when out of memory: read as "" then
}

func cString(at address: UInt) -> UnsafePointer<CChar> {
    UnsafePointer(bitPattern: address) ?? staticCString(emptyCString)
}

/// One configuration key as documented in include/ast.h.
struct KeySpec: Sendable {
    enum ValueType: Int32, Sendable { case int = 1, float = 2, string = 3 }  // AST_TYPE_*

    let key: Int32
    /// Dotted name ("distill.ipc").
    let name: String
    /// ast_bounds.name: the 0.1 short name for keys 1-8, else the dotted name.
    let boundsName: String
    let type: ValueType
    let intRange: ClosedRange<Int64>
    let floatRange: ClosedRange<Double>
    /// Allowed values of a string key (empty: free text or a DSA strategy).
    let choices: [String]
    let help: String
    /// nil for keys 1-8 (handled here), else the RunConfiguration parameter.
    let parameter: RunParameter?
    let cName: UInt, cBoundsName: UInt, cHelp: UInt, cChoices: UInt

    init(
        key: Int32, name: String, boundsName: String? = nil, type: ValueType,
        intRange: ClosedRange<Int64> = 0...0, floatRange: ClosedRange<Double> = 0...0,
        choices: [String] = [], help: String, parameter: RunParameter?
    ) {
        self.key = key
        self.name = name
        self.boundsName = boundsName ?? name
        self.type = type
        self.intRange = intRange
        self.floatRange = floatRange
        self.choices = choices
        self.help = help
        self.parameter = parameter
        cName = immortalCString(name)
        cBoundsName = immortalCString(boundsName ?? name)
        cHelp = immortalCString(help)
        cChoices = immortalCString(choices.joined(separator: "|"))
    }
}

/// Int64 of a table bound (Double), saturating instead of trapping.
private func saturatingInt64(_ d: Double) -> Int64 {
    if d >= 9.2e18 { return Int64.max }
    if d <= -9.2e18 { return Int64.min }
    return Int64(d)
}

/// The network keys with their release-0.1 C meaning (short bounds name, int encoding of norm
/// and pool, a 3x32x32 default). `range` nil: the settings table's bounds, as for every other key.
private func networkKey(_ key: Int, _ short: String, _ help: String, range: ClosedRange<Int64>? = nil) -> KeySpec {
    let parameter = RunConfiguration.parameter(key: Int32(key))
    let bounds = range ?? parameter.map { saturatingInt64($0.minimum)...saturatingInt64($0.maximum) } ?? 0...0
    return KeySpec(
        key: Int32(key), name: parameter?.name ?? short, boundsName: short, type: .int, intRange: bounds,
        help: help, parameter: nil)
}

/// Every key, in increasing key order. Must match the table in include/ast.h (checked by
/// ASTCAPITests against the header text).
let configKeys: [KeySpec] = {
    var keys: [KeySpec] = [
        networkKey(AST_CONFIG_CHANNELS, "channels", "input channels"),
        networkKey(AST_CONFIG_IMAGE_SIZE, "image_size", "input height = width"),
        networkKey(AST_CONFIG_CLASSES, "classes", "output classes"),
        networkKey(AST_CONFIG_WIDTH, "width", "conv channels (net_width)"),
        networkKey(AST_CONFIG_DEPTH, "depth", "conv blocks (net_depth)"),
        networkKey(
            AST_CONFIG_NORM, "norm", "AST_NORM_*: 0 none, 1 instance, 2 batch",
            range: Int64(AST_NORM_NONE)...Int64(AST_NORM_BATCH)),
        networkKey(
            AST_CONFIG_POOL, "pool", "AST_POOL_*: 0 average, 1 max",
            range: Int64(AST_POOL_AVERAGE)...Int64(AST_POOL_MAX)),
        networkKey(AST_CONFIG_SEED, "seed", "base seed of every random draw of a run", range: 0...Int64.max)
    ]
    for p in RunConfiguration.parameters where p.key > 8 {
        switch p.kind {
        case .int:
            keys.append(
                KeySpec(
                    key: p.key, name: p.name, type: .int,
                    intRange: saturatingInt64(p.minimum)...saturatingInt64(p.maximum),
                    help: p.help, parameter: p))
        case .float:
            keys.append(
                KeySpec(
                    key: p.key, name: p.name, type: .float, floatRange: p.minimum...p.maximum,
                    help: p.help, parameter: p))
        case .string:
            keys.append(
                KeySpec(
                    key: p.key, name: p.name, type: .string, choices: p.choices,
                    help: p.help, parameter: p))
        }
    }
    return keys.sorted { $0.key < $1.key }
}()

func keySpec(_ key: Int32) -> KeySpec? {
    configKeys.first { $0.key == key }
}

/// A key by dotted name, or by short name for keys 1-8.
func keySpec(named name: String) -> KeySpec? {
    configKeys.first { $0.name == name || $0.boundsName == name }
}

private let normNames = ["none", "instance", "batch"]
private let poolNames = ["average", "max"]

extension RunConfiguration {
    /// ast_config_create's defaults: RunConfiguration() with release 0.1's network (3x32x32,
    /// ConvNet-3 width 128, instance norm, average pooling) and seed 0.
    static let cDefaults: RunConfiguration = {
        var c = RunConfiguration()
        c.network = ConvNetConfig(
            channels: 3, imageSize: 32, classes: 10, width: 128, depth: 3,
            norm: .instance, pool: .average)
        c.seed = 0
        return c
    }()

    /// The value of a key (keys 1-8 with their C encoding).
    func cValue(_ spec: KeySpec) -> ParameterValue {
        if let p = spec.parameter { return p.value(in: self) }
        switch Int(spec.key) {
        case AST_CONFIG_CHANNELS: return .int(Int64(network.channels))
        case AST_CONFIG_IMAGE_SIZE: return .int(Int64(network.imageSize))
        case AST_CONFIG_CLASSES: return .int(Int64(network.classes))
        case AST_CONFIG_WIDTH: return .int(Int64(network.width))
        case AST_CONFIG_DEPTH: return .int(Int64(network.depth))
        case AST_CONFIG_NORM: return .int(Int64(network.norm.rawValue))
        case AST_CONFIG_POOL: return .int(Int64(network.pool.rawValue))
        default: return .int(Int64(bitPattern: seed))
        }
    }

    /// Sets a key from a value whose type and bounds `checkedValue` has verified.
    mutating func setCValue(_ spec: KeySpec, _ value: ParameterValue, _ args: Arguments) throws(CFailure) {
        if let p = spec.parameter {
            do throws(ASTError) {
                try p.assign(value, in: &self)
            } catch {
                throw args.fail(ast_status(error.kind.rawValue), "\(spec.name): \(error.message)")
            }
            return
        }
        guard case .int(let v) = value else {
            throw args.fail(Status.internal, "\(spec.name): non-int value reached a network key")
        }
        switch Int(spec.key) {
        case AST_CONFIG_CHANNELS: network.channels = Int(v)
        case AST_CONFIG_IMAGE_SIZE: network.imageSize = Int(v)
        case AST_CONFIG_CLASSES: network.classes = Int(v)
        case AST_CONFIG_WIDTH: network.width = Int(v)
        case AST_CONFIG_DEPTH: network.depth = Int(v)
        case AST_CONFIG_NORM:
            guard let n = NormKind(rawValue: Int32(truncatingIfNeeded: v)) else {
                throw args.fail(Status.internal, "norm value \(v) outside the engine's enum")
            }
            network.norm = n
        case AST_CONFIG_POOL:
            guard let p = PoolKind(rawValue: Int32(truncatingIfNeeded: v)) else {
                throw args.fail(Status.internal, "pool value \(v) outside the engine's enum")
            }
            network.pool = p
        default: seed = UInt64(bitPattern: v)
        }
    }

    /// Whether every key holds a value within its C bounds (presets are checked with this).
    func firstKeyOutOfBounds() -> (KeySpec, ParameterValue)? {
        for spec in configKeys {
            let v = cValue(spec)
            switch (spec.type, v) {
            case (.int, .int(let i)) where !spec.intRange.contains(i): return (spec, v)
            case (.float, .float(let d)) where !spec.floatRange.contains(d): return (spec, v)
            default: continue
            }
        }
        return nil
    }
}

final class ConfigBox: HandleBox {
    override class var staticTypeName: StaticString { "ast_config" }
    var run: RunConfiguration

    init(_ run: RunConfiguration) {
        self.run = run
    }
}

/// Key lookup for a setter/getter, with the wrong-type check.
private func spec(_ key: Int32, _ args: Arguments, type: KeySpec.ValueType?) throws(CFailure) -> KeySpec {
    guard let spec = keySpec(key) else {
        throw args.fail(Status.unknownKey, "key \(key) is not a configuration key (see ast_config_keys)")
    }
    if let type, spec.type != type {
        let kind: String, use: String
        switch spec.type {
        case .int: (kind, use) = ("an int", "ast_config_set_int/get_int")
        case .float: (kind, use) = ("a float", "ast_config_set_float/get_float")
        case .string: (kind, use) = ("a string", "ast_config_set_string/get_string")
        }
        throw args.fail(Status.wrongType, "key \(key) (\(spec.name)) is \(kind) key; use \(use)")
    }
    return spec
}

/// Checks a value against its key's type and bounds (the statuses of the typed setters).
func checkedValue(_ spec: KeySpec, _ value: ParameterValue, _ args: Arguments) throws(CFailure) -> ParameterValue {
    let label = "\(spec.key) (\(spec.name))"
    switch (spec.type, value) {
    case (.int, .int(let v)):
        guard spec.intRange.contains(v) else {
            throw args.fail(
                Status.outOfRange,
                "value \(v) for key \(label) is outside \(spec.intRange.lowerBound)...\(spec.intRange.upperBound)")
        }
    case (.float, .float(let v)):
        guard v.isFinite else { throw args.fail(Status.nonFinite, "value \(v) for key \(label) is not finite") }
        guard spec.floatRange.contains(v) else {
            throw args.fail(
                Status.outOfRange,
                "value \(v) for key \(label) is outside \(spec.floatRange.lowerBound)...\(spec.floatRange.upperBound)")
        }
    case (.string, .string(let v)):
        guard v.utf8.count <= Int(AST_MAX_STRING_LENGTH) else {
            throw args.fail(
                Status.invalidArgument,
                "value for key \(label) is \(v.utf8.count) bytes, more than \(AST_MAX_STRING_LENGTH)")
        }
        guard spec.choices.isEmpty || spec.choices.contains(v) else {
            throw args.fail(
                Status.outOfRange,
                "value \"\(v)\" for key \(label) is not one of \(spec.choices.joined(separator: ", "))")
        }
    default:
        throw args.fail(
            Status.wrongType,
            "key \(label) takes \(spec.type == .int ? "an int" : spec.type == .float ? "a float" : "a string"), got "
                + "\(value)"
        )
    }
    return value
}

/// Sets one key of a configuration after all checks; the configuration is unchanged on failure.
func setKey(
    _ spec: KeySpec, _ value: ParameterValue, in config: inout RunConfiguration, _ args: Arguments
) throws(CFailure) {
    let v = try checkedValue(spec, value, args)
    var copy = config
    try copy.setCValue(spec, v, args)
    config = copy
}

/// A C string argument as a Swift String: NUL-terminated UTF-8 of at most `maxBytes` bytes
/// (the length is found with strnlen, so an over-long string is never read past the limit+1).
func utf8String(
    _ pointer: UnsafePointer<CChar>, _ name: StaticString, _ args: Arguments,
    maxBytes: Int = Int(AST_MAX_STRING_LENGTH)
) throws(CFailure) -> String {
    let length = strnlen(pointer, maxBytes + 1)
    guard length <= maxBytes else {
        throw args.fail(Status.invalidArgument, "\(name) is longer than \(maxBytes) bytes")
    }
    let bytes = UnsafeBufferPointer(start: UnsafeRawPointer(pointer).assumingMemoryBound(to: UInt8.self), count: length)
    guard let s = String(validating: bytes, as: UTF8.self) else {
        throw args.fail(Status.invalidArgument, "\(name) is not valid UTF-8")
    }
    return s
}

/// Writes `text` to a caller buffer (snprintf-style: truncated + NUL, full length reported).
func writeString(
    _ text: String, to buffer: UnsafeMutablePointer<CChar>?, capacity: Int64,
    outLength: UnsafeMutablePointer<Int64>?, _ args: Arguments
) throws(CFailure) {
    let outLength = try args.required(outLength, "out_length")
    guard capacity >= 0 else { throw args.fail(Status.invalidArgument, "capacity must be >= 0, got \(capacity)") }
    let bytes = Array(text.utf8)
    if capacity > 0 {
        let buffer = try args.required(buffer, "buffer")
        let n = min(bytes.count, Int(min(capacity - 1, Int64(Int.max))))
        bytes.withUnsafeBufferPointer { src in
            if let base = src.baseAddress {
                UnsafeMutableRawPointer(buffer).copyMemory(from: base, byteCount: n)
            }
        }
        buffer[n] = 0
    }
    outLength.pointee = Int64(bytes.count)
}

// MARK: - JSON

/// The configuration as the flat JSON object of ast_config_to_json (ints exact, norm/pool as
/// names so the command-line tool reads it).
func configJSON(_ config: RunConfiguration) throws(CFailure) -> String {
    var lines: [String] = []
    for spec in configKeys {
        let text: String
        switch config.cValue(spec) {
        case .int(let v):
            if spec.key == Int32(AST_CONFIG_NORM), normNames.indices.contains(Int(v)) {
                text = "\"\(normNames[Int(v)])\""
            } else if spec.key == Int32(AST_CONFIG_POOL), poolNames.indices.contains(Int(v)) {
                text = "\"\(poolNames[Int(v)])\""
            } else {
                text = String(v)
            }
        case .float(let d):
            text = JSONValue.formatNumber(d) ?? "0"
        case .string(let s):
            do throws(ASTError) {
                text = try JSONValue.string(s).serialized()
            } catch {
                throw CFailure(Status.internal, "ast_config_to_json: \(error.message)")
            }
        }
        lines.append("  \"\(spec.name)\": \(text)")
    }
    return "{\n" + lines.joined(separator: ",\n") + "\n}\n"
}

/// Applies a flat JSON object of settings to a copy of `config`; all or nothing.
func applyJSON(
    _ bytes: [UInt8], source: String, to config: RunConfiguration,
    _ args: Arguments
) throws(CFailure) -> RunConfiguration {
    let json: JSONValue
    do throws(ASTError) {
        json = try JSONValue.parse(bytes, source: source)
    } catch {
        throw args.fail(ast_status(error.kind.rawValue), error.message)
    }
    guard let object = json.object else {
        throw args.fail(
            Status.format, "\(source): settings must be a JSON object (name -> value), got \(json.kindName)")
    }
    var result = config
    for (name, value) in object {
        guard let spec = keySpec(named: name) else {
            throw args.fail(
                Status.unknownKey,
                "\(source): \"\(name)\" is not a configuration key (see ast_config_keys / ast_config_describe)")
        }
        let v: ParameterValue
        switch (spec.type, value) {
        case (.int, .number(let d)):
            guard let i = Int64(exactly: d) else {
                throw args.fail(Status.wrongType, "\(source): \"\(name)\" takes an integer, got \(d)")
            }
            v = .int(i)
        case (.int, .bool(let b)):
            v = .int(b ? 1 : 0)
        case (.int, .string(let s)) where spec.key == Int32(AST_CONFIG_NORM) || spec.key == Int32(AST_CONFIG_POOL):
            let names = spec.key == Int32(AST_CONFIG_NORM) ? normNames : poolNames
            guard let i = names.firstIndex(of: s) else {
                throw args.fail(
                    Status.outOfRange, "\(source): \"\(name)\" is \"\(s)\", not one of \(names.joined(separator: ", "))"
                )
            }
            v = .int(Int64(i))
        case (.float, .number(let d)):
            v = .float(d)
        case (.string, .string(let s)):
            v = .string(s)
        default:
            let want = spec.type == .int ? "an integer" : spec.type == .float ? "a number" : "a string"
            throw args.fail(Status.wrongType, "\(source): \"\(name)\" takes \(want), got \(value.kindName)")
        }
        do throws(CFailure) {
            try setKey(spec, v, in: &result, args)
        } catch {
            let prefix = "\(args.function): "
            let text = error.message.hasPrefix(prefix) ? String(error.message.dropFirst(prefix.count)) : error.message
            throw args.fail(error.status, "\(source): \(text)")
        }
    }
    return result
}

/// Largest JSON settings text or file.
private let maxJSONBytes = 1 << 24

// MARK: - Exports

@c @implementation
public func ast_config_create(_ out: UnsafeMutablePointer<OpaquePointer?>!) -> ast_status {
    entry { () throws(CFailure) in
        let out = try Arguments("ast_config_create").required(out, "out")
        out.pointee = retainedHandle(ConfigBox(RunConfiguration.cDefaults))
    }
}

@c @implementation
public func ast_config_clone(_ config: OpaquePointer!, _ out: UnsafeMutablePointer<OpaquePointer?>!) -> ast_status {
    let args = Arguments("ast_config_clone")
    out?.pointee = nil
    return entry("ast_config_clone", config, as: ConfigBox.self, argument: "config") { box throws(CFailure) in
        let out = try args.required(out, "out")
        out.pointee = retainedHandle(ConfigBox(box.run))
    }
}

@c @implementation
public func ast_config_free(_ config: OpaquePointer!) {
    releaseHandle(config)
}

@c @implementation
public func ast_config_last_error(_ config: OpaquePointer!) -> UnsafePointer<CChar>! {
    handleLastError(config, as: ConfigBox.self, nullMessage: "ast_config_last_error: config is NULL")
}

@c @implementation
public func ast_config_set_int(_ config: OpaquePointer!, _ key: Int32, _ value: Int64) -> ast_status {
    let args = Arguments("ast_config_set_int")
    return entry("ast_config_set_int", config, as: ConfigBox.self, argument: "config") { box throws(CFailure) in
        let spec = try spec(key, args, type: .int)
        try setKey(spec, .int(value), in: &box.run, args)
    }
}

@c @implementation
public func ast_config_get_int(
    _ config: OpaquePointer!, _ key: Int32, _ out: UnsafeMutablePointer<Int64>!
) -> ast_status {
    let args = Arguments("ast_config_get_int")
    return entry("ast_config_get_int", config, as: ConfigBox.self, argument: "config") { box throws(CFailure) in
        let out = try args.required(out, "out")
        let spec = try spec(key, args, type: .int)
        guard case .int(let v) = box.run.cValue(spec) else {
            throw args.fail(Status.internal, "key \(key) (\(spec.name)) holds a non-int value")
        }
        out.pointee = v
    }
}

@c @implementation
public func ast_config_set_float(_ config: OpaquePointer!, _ key: Int32, _ value: Double) -> ast_status {
    let args = Arguments("ast_config_set_float")
    return entry("ast_config_set_float", config, as: ConfigBox.self, argument: "config") { box throws(CFailure) in
        let spec = try spec(key, args, type: .float)
        try setKey(spec, .float(value), in: &box.run, args)
    }
}

@c @implementation
public func ast_config_get_float(
    _ config: OpaquePointer!, _ key: Int32, _ out: UnsafeMutablePointer<Double>!
) -> ast_status {
    let args = Arguments("ast_config_get_float")
    return entry("ast_config_get_float", config, as: ConfigBox.self, argument: "config") { box throws(CFailure) in
        let out = try args.required(out, "out")
        let spec = try spec(key, args, type: nil)
        switch box.run.cValue(spec) {
        case .int(let v): out.pointee = Double(v)
        case .float(let v): out.pointee = v
        case .string:
            throw args.fail(Status.wrongType, "key \(key) (\(spec.name)) is a string key; use ast_config_get_string")
        }
    }
}

@c @implementation
public func ast_config_set_string(_ config: OpaquePointer!, _ key: Int32, _ value: UnsafePointer<CChar>!) -> ast_status
{
    let args = Arguments("ast_config_set_string")
    return entry("ast_config_set_string", config, as: ConfigBox.self, argument: "config") { box throws(CFailure) in
        let value = try args.required(value, "value")
        let spec = try spec(key, args, type: .string)
        let text = try utf8String(value, "value", args)
        try setKey(spec, .string(text), in: &box.run, args)
    }
}

@c @implementation
public func ast_config_get_string(
    _ config: OpaquePointer!, _ key: Int32, _ buffer: UnsafeMutablePointer<CChar>!,
    _ capacity: Int64, _ outLength: UnsafeMutablePointer<Int64>!
) -> ast_status {
    let args = Arguments("ast_config_get_string")
    return entry("ast_config_get_string", config, as: ConfigBox.self, argument: "config") { box throws(CFailure) in
        let spec = try spec(key, args, type: .string)
        guard case .string(let s) = box.run.cValue(spec) else {
            throw args.fail(Status.internal, "key \(key) (\(spec.name)) holds a non-string value")
        }
        try writeString(s, to: buffer, capacity: capacity, outLength: outLength, args)
    }
}

@c @implementation
public func ast_config_bounds(_ key: Int32, _ out: UnsafeMutablePointer<ast_bounds>!) -> ast_status {
    entry { () throws(CFailure) in
        let args = Arguments("ast_config_bounds")
        let out = try args.required(out, "out")
        let spec = try spec(key, args, type: nil)
        var b = ast_bounds()
        b.key = spec.key
        b.type = spec.type.rawValue
        b.name = cString(at: spec.cBoundsName)
        switch (spec.type, RunConfiguration.cDefaults.cValue(spec)) {
        case (.int, .int(let v)):
            (b.int_min, b.int_max, b.int_default) = (spec.intRange.lowerBound, spec.intRange.upperBound, v)
        case (.float, .float(let v)):
            (b.float_min, b.float_max, b.float_default) = (spec.floatRange.lowerBound, spec.floatRange.upperBound, v)
        default: break
        }
        out.pointee = b
    }
}

@c @implementation
public func ast_config_describe(
    _ key: Int32, _ outName: UnsafeMutablePointer<UnsafePointer<CChar>?>!,
    _ outHelp: UnsafeMutablePointer<UnsafePointer<CChar>?>!,
    _ outChoices: UnsafeMutablePointer<UnsafePointer<CChar>?>!
) -> ast_status {
    entry { () throws(CFailure) in
        let spec = try spec(key, Arguments("ast_config_describe"), type: nil)
        outName?.pointee = cString(at: spec.cName)
        outHelp?.pointee = cString(at: spec.cHelp)
        outChoices?.pointee = cString(at: spec.cChoices)
    }
}

@c @implementation
public func ast_config_key_by_name(_ name: UnsafePointer<CChar>!, _ outKey: UnsafeMutablePointer<Int32>!) -> ast_status
{
    entry { () throws(CFailure) in
        let args = Arguments("ast_config_key_by_name")
        let pointer = try args.required(name, "name")
        let outKey = try args.required(outKey, "out_key")
        let name: String
        do throws(CFailure) {
            name = try utf8String(pointer, "name", args, maxBytes: 256)
        } catch {
            throw CFailure(Status.unknownKey, error.message)
        }
        guard let spec = keySpec(named: name) else {
            throw args.fail(
                Status.unknownKey,
                "name \"\(name)\" is not a configuration key (see ast_config_keys and ast_config_describe)")
        }
        outKey.pointee = spec.key
    }
}

@c @implementation
public func ast_config_keys(
    _ keys: UnsafeMutablePointer<Int32>!, _ capacity: Int32, _ outCount: UnsafeMutablePointer<Int32>!
) -> ast_status {
    entry { () throws(CFailure) in
        let args = Arguments("ast_config_keys")
        let outCount = try args.required(outCount, "out_count")
        let capacity = try args.integer(Int64(capacity), "capacity", in: 0...Int64(Int32.max))
        if capacity > 0 {
            let keys = try args.required(keys, "keys")
            for (i, spec) in configKeys.prefix(capacity).enumerated() { keys[i] = spec.key }
        }
        outCount.pointee = Int32(configKeys.count)
    }
}

/// Preset names as immortal C strings.
private let presetCNames: [UInt] = RunConfiguration.presetNames.map(immortalCString)

@c @implementation
public func ast_config_presets(
    _ names: UnsafeMutablePointer<UnsafePointer<CChar>?>!, _ capacity: Int32,
    _ outCount: UnsafeMutablePointer<Int32>!
) -> ast_status {
    entry { () throws(CFailure) in
        let args = Arguments("ast_config_presets")
        let outCount = try args.required(outCount, "out_count")
        let capacity = try args.integer(Int64(capacity), "capacity", in: 0...Int64(Int32.max))
        if capacity > 0 {
            let names = try args.required(names, "names")
            for (i, address) in presetCNames.prefix(capacity).enumerated() { names[i] = cString(at: address) }
        }
        outCount.pointee = Int32(presetCNames.count)
    }
}

@c @implementation
public func ast_config_load_preset(_ config: OpaquePointer!, _ name: UnsafePointer<CChar>!) -> ast_status {
    let args = Arguments("ast_config_load_preset")
    return entry("ast_config_load_preset", config, as: ConfigBox.self, argument: "config") { box throws(CFailure) in
        let pointer = try args.required(name, "name")
        let name = try utf8String(pointer, "name", args, maxBytes: 256)
        guard RunConfiguration.presetNames.contains(name) else {
            throw args.fail(
                Status.invalidArgument,
                "unknown preset \"\(name)\" (known: \(RunConfiguration.presetNames.joined(separator: ", ")))")
        }
        let preset: RunConfiguration
        do throws(ASTError) {
            preset = try RunConfiguration.preset(name)
        } catch {
            throw args.engine(error)
        }
        if let (spec, value) = preset.firstKeyOutOfBounds() {
            throw args.fail(Status.outOfRange, "preset \"\(name)\" sets \(spec.name) to \(value), outside the C bounds")
        }
        box.run = preset
    }
}

@c @implementation
public func ast_config_load_json(_ config: OpaquePointer!, _ path: UnsafePointer<CChar>!) -> ast_status {
    let args = Arguments("ast_config_load_json")
    return entry("ast_config_load_json", config, as: ConfigBox.self, argument: "config") { box throws(CFailure) in
        let pointer = try args.required(path, "path")
        let path = try utf8String(pointer, "path", args)
        let bytes: [UInt8]
        do throws(ASTError) {
            bytes = try BinaryFile.read(path, maxBytes: maxJSONBytes)
        } catch {
            // A file over the limit is an I/O problem for the caller, not memory exhaustion.
            throw args.fail(error.kind == .outOfMemory ? Status.io : ast_status(error.kind.rawValue), error.message)
        }
        box.run = try applyJSON(bytes, source: path, to: box.run, args)
    }
}

@c @implementation
public func ast_config_apply_json(_ config: OpaquePointer!, _ json: UnsafePointer<CChar>!) -> ast_status {
    let args = Arguments("ast_config_apply_json")
    return entry("ast_config_apply_json", config, as: ConfigBox.self, argument: "config") { box throws(CFailure) in
        let pointer = try args.required(json, "json")
        let length = strnlen(pointer, maxJSONBytes + 1)
        guard length <= maxJSONBytes else {
            throw args.fail(Status.invalidArgument, "json is longer than \(maxJSONBytes) bytes")
        }
        let bytes = Array(
            UnsafeBufferPointer(start: UnsafeRawPointer(pointer).assumingMemoryBound(to: UInt8.self), count: length))
        box.run = try applyJSON(bytes, source: "json", to: box.run, args)
    }
}

@c @implementation
public func ast_config_to_json(
    _ config: OpaquePointer!, _ buffer: UnsafeMutablePointer<CChar>!, _ capacity: Int64,
    _ outLength: UnsafeMutablePointer<Int64>!
) -> ast_status {
    let args = Arguments("ast_config_to_json")
    return entry("ast_config_to_json", config, as: ConfigBox.self, argument: "config") { box throws(CFailure) in
        try writeString(try configJSON(box.run), to: buffer, capacity: capacity, outLength: outLength, args)
    }
}
