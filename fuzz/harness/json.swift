// fuzz target: the JSON parser and configuration files (RunConfiguration.apply(json:), what
// `ast-distill --config FILE` reads), plus the serializer round trip.
import ASTCore
import ASTData
import ASTDistill

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = inputBytes(data, size)
    guard let value = try? JSONValue.parse(bytes, source: "fuzz.json") else { return 0 }
    // Anything parsed serializes (when it can) to text that parses back to the same value.
    for pretty in [false, true] {
        if let text = try? value.serialized(pretty: pretty) {
            let back = try? JSONValue.parse(text, source: "round trip")
            precondition(back == value, "JSON round trip changed the value")
        }
    }
    var config = (try? RunConfiguration.preset("quick")) ?? RunConfiguration()
    if (try? config.apply(json: value, source: "fuzz.json")) != nil {
        if (try? config.validate()) != nil {
            // A valid configuration's own JSON reapplies to the same configuration.
            var again = RunConfiguration()
            if (try? again.apply(json: config.json, source: "settings")) != nil {
                precondition(again == config, "settings JSON round trip changed the configuration")
            }
        }
    }
    return 0
}
