import ArgumentParser
import ASTData
import ASTDistill

/// Settings shared by every subcommand: a preset, then a config file, then `--set` overrides.
struct SettingsOptions: ParsableArguments {
    @Option(name: .long, help: "Named settings (see `ast-distill presets`).")
    var preset: String?

    @Option(name: .long, help: "A JSON file of settings (flat object: name -> value).")
    var config: String?

    @Option(name: [.customLong("set")], help: ArgumentHelp("Override one setting, e.g. --set distill.ipc=10 (repeatable; see `ast-distill settings`).", valueName: "name=value"))
    var overrides: [String] = []

    @Option(name: [.short, .long], help: "Output directory (trajectories, checkpoint, results).")
    var out: String = "out"

    /// The configuration, with every problem reported before any work starts.
    func configuration() throws -> RunConfiguration {
        var c = try preset.map { try RunConfiguration.preset($0) } ?? RunConfiguration()
        if let config {
            let bytes = try BinaryFile.read(config, maxBytes: 1 << 24)
            try c.apply(json: try JSONValue.parse(bytes, source: config), source: config)
        }
        var seen: [String: String] = [:]
        for item in overrides {
            guard let eq = item.firstIndex(of: "=") else {
                throw ValidationError("--set \(item): expected name=value")
            }
            let name = String(item[..<eq]), value = String(item[item.index(after: eq)...])
            if let earlier = seen[name], earlier != value {
                throw ValidationError("--set \(name) is given twice with different values ('\(earlier)' and '\(value)')")
            }
            seen[name] = value
            try c.set(name, text: value)
        }
        try c.validate()
        return c
    }
}

struct Presets: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the named presets and what they set.")

    func run() throws {
        for name in RunConfiguration.presetNames {
            let c = try RunConfiguration.preset(name)
            let n = c.network
            print("\(name.padded(15)) \(c.dataset.rawValue), ConvNet-\(n.depth) width \(n.width), \(c.expertCount) \(c.expertKind.rawValue) experts x \(c.expertEpochs) epochs, ipc \(c.distillation.ipc), N \(c.distillation.syntheticSteps), \(c.distillation.iterations) iterations, eval \(c.evaluation.models)x\(c.evaluation.epochs) epochs\(c.trainLimit > 0 ? ", \(c.trainLimit) training images" : "")")
        }
    }
}

struct Settings: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print every setting with its value, bounds and meaning.")
    @OptionGroup var settings: SettingsOptions
    @Flag(help: "Print the settings as a JSON config file instead.") var json = false

    func run() throws {
        let c = try settings.configuration()
        if json {
            print(try c.json.serialized(pretty: true))
            return
        }
        for p in RunConfiguration.parameters {
            let range: String
            switch p.kind {
            case .string: range = p.choices.isEmpty ? "text" : p.choices.joined(separator: "|")
            case .int: range = "\(Int64(p.minimum))...\(p.maximum >= 9e18 ? "2^63-1" : String(Int64(p.maximum)))"
            case .float: range = "\(p.minimum)...\(p.maximum)"
            }
            print("\(p.name.padded(28)) = \(p.value(in: c).description.padded(38)) [\(range)] \(p.help)")
        }
    }
}
