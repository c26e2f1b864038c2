import ArgumentParser
import ASTCore
import ASTData
import ASTDistill

/// Settings shared by every subcommand: a preset, then a config file, then `--set` overrides.
struct SettingsOptions: ParsableArguments {
    @Option(name: .long, help: "Named settings (see `ast-distill presets`).")
    var preset: String?

    @Option(name: .long, help: "A JSON file of settings (flat object: name -> value).")
    var config: String?

    @Option(
        name: [.customLong("set")],
        help: ArgumentHelp(
            "Override one setting, e.g. --set distill.ipc=10 (repeatable; see `ast-distill settings`).",
            valueName: "name=value"))
    var overrides: [String] = []

    @Option(name: [.short, .long], help: "Output directory (trajectories, checkpoint, results).")
    var out: String = "out"

    /// The configuration, with every problem reported before any work starts. `requirePreset`:
    /// the commands that start work refuse to run on the bare defaults (a long CIFAR-sized job
    /// nobody asked for) unless --preset or --config says what to do.
    func configuration(requirePreset: Bool = true) throws -> RunConfiguration {
        if requirePreset && preset == nil && config == nil {
            throw ValidationError(
                "no --preset given; choose one of \(RunConfiguration.presetNames.joined(separator: ", ")) "
                    + "(`ast-distill presets` describes them) or give --config FILE; "
                    + "e.g. ast-distill run --preset quick --out out/quick"
            )
        }
        // An unknown preset or a bad --set is a wrong command line (status 2); a bad config file
        // or contradictory settings are failures (status 1).
        do throws(RunConfiguration.AssemblyError) {
            return try RunConfiguration.assembleReportingSource(
                preset: preset, configFile: config, overrides: overrides)
        } catch {
            if error.fromCommandLine { throw ValidationError(error.error.message) }
            throw error.error
        }
    }
}

/// One line describing a preset (ast-distill presets, and the no-preset message).
func presetSummary(_ name: String) -> String {
    guard let c = try? RunConfiguration.preset(name) else { return name }
    let n = c.network
    let subset = c.trainLimit > 0 ? ", \(c.trainLimit) training images" : ""
    return
        "\(name.padded(15)) \(c.dataset.rawValue), ConvNet-\(n.depth) width \(n.width), \(c.expertCount) "
        + "\(c.expertKind.rawValue) experts x \(c.expertEpochs) epochs, ipc \(c.distillation.ipc), N "
        + "\(c.distillation.syntheticSteps), \(c.distillation.iterations) iterations, "
        + "eval \(c.evaluation.models)x\(c.evaluation.epochs) epochs\(subset)"
}

struct Presets: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the named presets and what they set.")

    func run() throws {
        for name in RunConfiguration.presetNames { print(presetSummary(name)) }
    }
}

struct Settings: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print every setting with its value, bounds and meaning.")
    @OptionGroup var settings: SettingsOptions
    @Flag(help: "Print the settings as a JSON config file instead.") var json = false

    func run() throws {
        let c = try settings.configuration(requirePreset: false)
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
