// ast_config: enum-keyed typed settings with defaults and bounds (zstd's setParameter +
// getBounds). Keys live in one table; later issues add rows, never renumber.

import ASTCore
import CAst

/// One configuration key as documented in include/ast.h.
struct KeySpec: Sendable {
    enum ValueType: Int32, Sendable { case int = 1, float = 2 }  // AST_TYPE_INT / AST_TYPE_FLOAT

    let key: Int32
    let name: StaticString
    let type: ValueType
    let intRange: ClosedRange<Int64>
    let intDefault: Int64
    let floatRange: ClosedRange<Double>
    let floatDefault: Double

    static func int(_ key: Int, _ name: StaticString, _ range: ClosedRange<Int64>,
                    default value: Int64) -> KeySpec {
        KeySpec(key: Int32(key), name: name, type: .int, intRange: range, intDefault: value,
                floatRange: 0...0, floatDefault: 0)
    }

    static func float(_ key: Int, _ name: StaticString, _ range: ClosedRange<Double>,
                      default value: Double) -> KeySpec {
        KeySpec(key: Int32(key), name: name, type: .float, intRange: 0...0, intDefault: 0,
                floatRange: range, floatDefault: value)
    }
}

/// Every key, in increasing key order. Must match the table in include/ast.h.
let configKeys: [KeySpec] = [
    .int(AST_CONFIG_CHANNELS, "channels", 1...64, default: 3),
    .int(AST_CONFIG_IMAGE_SIZE, "image_size", 2...512, default: 32),
    .int(AST_CONFIG_CLASSES, "classes", 2...100_000, default: 10),
    .int(AST_CONFIG_WIDTH, "width", 1...1024, default: 128),
    .int(AST_CONFIG_DEPTH, "depth", 1...8, default: 3),
    .int(AST_CONFIG_NORM, "norm", Int64(AST_NORM_NONE)...Int64(AST_NORM_BATCH),
         default: Int64(AST_NORM_INSTANCE)),
    .int(AST_CONFIG_POOL, "pool", Int64(AST_POOL_AVERAGE)...Int64(AST_POOL_MAX),
         default: Int64(AST_POOL_AVERAGE)),
    .int(AST_CONFIG_SEED, "seed", 0...Int64.max, default: 0),
]

func keySpec(_ key: Int32) -> KeySpec? {
    configKeys.first { $0.key == key }
}

/// The values of a configuration: one slot per key of `configKeys`.
struct ConfigValues: Sendable, Equatable {
    var ints: [Int32: Int64] = [:]
    var floats: [Int32: Double] = [:]

    static let defaults: ConfigValues = {
        var v = ConfigValues()
        for spec in configKeys {
            switch spec.type {
            case .int: v.ints[spec.key] = spec.intDefault
            case .float: v.floats[spec.key] = spec.floatDefault
            }
        }
        return v
    }()

    func int(_ key: Int) -> Int64 { ints[Int32(key)] ?? 0 }
}

final class ConfigBox: HandleBox {
    override class var staticTypeName: StaticString { "ast_config" }
    var values: ConfigValues

    init(_ values: ConfigValues) {
        self.values = values
    }
}

/// Key lookup for a setter/getter, with the wrong-type check.
private func spec(_ key: Int32, _ args: Arguments, type: KeySpec.ValueType?) throws(CFailure) -> KeySpec {
    guard let spec = keySpec(key) else {
        throw args.fail(Status.unknownKey, "key \(key) is not a configuration key (see ast_config_keys)")
    }
    if let type, spec.type != type {
        let other = spec.type == .int ? "ast_config_set_int/get_int" : "ast_config_set_float/get_float"
        throw args.fail(Status.wrongType, "key \(key) (\(spec.name)) is \(spec.type == .int ? "an int" : "a float") key; use \(other)")
    }
    return spec
}

// MARK: - Exports

@c @implementation
public func ast_config_create(_ out: UnsafeMutablePointer<OpaquePointer?>!) -> ast_status {
    entry { () throws(CFailure) in
        let out = try Arguments("ast_config_create").required(out, "out")
        out.pointee = retainedHandle(ConfigBox(ConfigValues.defaults))
    }
}

@c @implementation
public func ast_config_clone(_ config: OpaquePointer!, _ out: UnsafeMutablePointer<OpaquePointer?>!) -> ast_status {
    let args = Arguments("ast_config_clone")
    out?.pointee = nil
    return entry("ast_config_clone", config, as: ConfigBox.self, argument: "config") { box throws(CFailure) in
        let out = try args.required(out, "out")
        out.pointee = retainedHandle(ConfigBox(box.values))
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
        guard spec.intRange.contains(value) else {
            throw args.fail(Status.outOfRange,
                            "value \(value) for key \(key) (\(spec.name)) is outside \(spec.intRange.lowerBound)...\(spec.intRange.upperBound)")
        }
        box.values.ints[key] = value
    }
}

@c @implementation
public func ast_config_get_int(_ config: OpaquePointer!, _ key: Int32, _ out: UnsafeMutablePointer<Int64>!) -> ast_status {
    let args = Arguments("ast_config_get_int")
    return entry("ast_config_get_int", config, as: ConfigBox.self, argument: "config") { box throws(CFailure) in
        let out = try args.required(out, "out")
        let spec = try spec(key, args, type: .int)
        out.pointee = box.values.ints[spec.key] ?? spec.intDefault
    }
}

@c @implementation
public func ast_config_set_float(_ config: OpaquePointer!, _ key: Int32, _ value: Double) -> ast_status {
    let args = Arguments("ast_config_set_float")
    return entry("ast_config_set_float", config, as: ConfigBox.self, argument: "config") { box throws(CFailure) in
        let spec = try spec(key, args, type: .float)
        guard value.isFinite else {
            throw args.fail(Status.nonFinite, "value \(value) for key \(key) (\(spec.name)) is not finite")
        }
        guard spec.floatRange.contains(value) else {
            throw args.fail(Status.outOfRange,
                            "value \(value) for key \(key) (\(spec.name)) is outside \(spec.floatRange.lowerBound)...\(spec.floatRange.upperBound)")
        }
        box.values.floats[key] = value
    }
}

@c @implementation
public func ast_config_get_float(_ config: OpaquePointer!, _ key: Int32, _ out: UnsafeMutablePointer<Double>!) -> ast_status {
    let args = Arguments("ast_config_get_float")
    return entry("ast_config_get_float", config, as: ConfigBox.self, argument: "config") { box throws(CFailure) in
        let out = try args.required(out, "out")
        let spec = try spec(key, args, type: nil)
        switch spec.type {
        case .int: out.pointee = Double(box.values.ints[spec.key] ?? spec.intDefault)
        case .float: out.pointee = box.values.floats[spec.key] ?? spec.floatDefault
        }
    }
}

@c @implementation
public func ast_config_bounds(_ key: Int32, _ out: UnsafeMutablePointer<ast_bounds>!) -> ast_status {
    entry { () throws(CFailure) in
        let args = Arguments("ast_config_bounds")
        let out = try args.required(out, "out")
        let spec = try spec(key, args, type: nil)
        out.pointee = ast_bounds(
            key: spec.key, type: spec.type.rawValue, name: staticCString(spec.name),
            int_min: spec.intRange.lowerBound, int_max: spec.intRange.upperBound,
            int_default: spec.intDefault,
            float_min: spec.floatRange.lowerBound, float_max: spec.floatRange.upperBound,
            float_default: spec.floatDefault)
    }
}

@c @implementation
public func ast_config_key_by_name(_ name: UnsafePointer<CChar>!, _ outKey: UnsafeMutablePointer<Int32>!) -> ast_status {
    entry { () throws(CFailure) in
        let args = Arguments("ast_config_key_by_name")
        let name = String(cString: try args.required(name, "name"))
        let outKey = try args.required(outKey, "out_key")
        guard let spec = configKeys.first(where: { $0.name.description == name }) else {
            let known = configKeys.map { $0.name.description }.joined(separator: ", ")
            throw args.fail(Status.unknownKey, "name \"\(name)\" is not a configuration key (known: \(known))")
        }
        outKey.pointee = spec.key
    }
}

@c @implementation
public func ast_config_keys(_ keys: UnsafeMutablePointer<Int32>!, _ capacity: Int32, _ outCount: UnsafeMutablePointer<Int32>!) -> ast_status {
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
