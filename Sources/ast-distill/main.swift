// ast-distill: dataset distillation by AST / MTT from the command line.
//   ast-distill run --preset quick --out out/quick
import ArgumentParser
import ASTCore
import ASTData
import ASTDistill
#if canImport(Glibc)
import Glibc
#endif

struct ASTDistillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ast-distill",
        abstract: "Dataset distillation by matching smooth expert trajectories (AST) or plain MTT.",
        discussion:
            "Settings come from --preset, then --config FILE, then --set name=value. Every step resumes from what an "
            + "earlier run saved in --out. Errors go to standard error as `ast-distill: error: ...`; exit status "
            + "1 for a failure, 2 for a wrong command line, 130 after Ctrl-C.",
        version: libastVersion,
        subcommands: [
            RunAll.self, Experts.self, Distill.self, Evaluate.self, Inspect.self, Render.self, Presets.self,
            Settings.self
        ])
}

/// Runs a pipeline step with the progress printer, turning ASTError into a clean exit.
func runStep(_ body: (ProgressPrinter) throws(ASTError) -> Void) throws {
    installInterruptHandler()
    let printer = ProgressPrinter()
    do throws(ASTError) {
        try body(printer)
    } catch {
        printer.finish()
        if error.kind == .cancelled {
            writeError("ast-distill: \(error.message)\n")
            throw ExitCode(130)
        }
        throw CommandFailure(error.message)
    }
}

/// The configured pipeline and its prepared data, handed to a step.
func runWithData(
    _ settings: SettingsOptions,
    _ body: (RunConfiguration, Pipeline, PreparedData, ProgressPrinter) throws(ASTError) -> Void
) throws {
    let config = try settings.configuration()
    let pipeline = try Pipeline(config: config, outputDirectory: settings.out)
    try runStep { printer throws(ASTError) in
        try body(config, pipeline, try pipeline.loadData(), printer)
    }
}

func printTable(_ distilled: EvaluationResult, _ baseline: EvaluationResult?, config: RunConfiguration, stepSize: Float)
{
    let ipc = config.distillation.ipc
    print("")
    print(
        "| training set (\(ipc) image\(ipc == 1 ? "" : "s") per class) | test accuracy, mean ± std over "
            + "\(distilled.accuracies.count) networks |"
    )
    print("|---|---|")
    if let b = baseline {
        print(
            "| random real subset (lr \(config.baselineLearningRate)) | \(String(fixed: b.mean * 100, 2)) ± "
                + "\(String(fixed: b.standardDeviation * 100, 2)) % |"
        )
    }
    print(
        "| distilled, \(config.expertKind.rawValue.uppercased()) experts (lr = learned α = \(stepSize)) | "
            + "\(String(fixed: distilled.mean * 100, 2)) ± \(String(fixed: distilled.standardDeviation * 100, 2)) % |"
    )
    print("")
    print(
        "protocol: \(config.evaluation.epochs) epochs from scratch on the set only, DSA, SGD momentum 0.9, final test "
            + "accuracy"
    )
}

struct RunAll: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "The whole pipeline: experts, distillation, evaluation, outputs.")
    @OptionGroup var settings: SettingsOptions

    func run() throws {
        let config = try settings.configuration()
        let pipeline = try Pipeline(config: config, outputDirectory: settings.out)
        let start = monotonicSeconds()
        try runStep { printer throws(ASTError) in
            let report = try pipeline.run(progress: printer.handle)
            if let d = report.distilled {
                printTable(d, report.baseline, config: config, stepSize: report.finalStepSize)
            }
            print(
                "wrote \(settings.out)/distilled.safetensors, \(settings.out)/distilled.png, "
                    + "\(settings.out)/report.json in \(formatDuration(monotonicSeconds() - start))"
            )
        }
    }
}

struct Experts: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Train expert trajectories into <out>/experts or experts.dir (resumes; a range lets several processes "
            + "share one store)."
    )
    @OptionGroup var settings: SettingsOptions
    @Option(help: "First expert index of this process.") var first: Int = 0
    @Option(help: "Number of experts for this process (default: experts.count − first).") var count: Int?

    func run() throws {
        let total = try count ?? (settings.configuration().expertCount - first)
        guard first >= 0, total >= 1 else { throw ValidationError("--first/--count select no experts") }
        try runWithData(settings) { _, pipeline, data, printer throws(ASTError) in
            let store = try pipeline.generateExperts(
                data: data, range: first..<(first + total), progress: printer.handle)
            let accuracies = try store.testAccuracies()
            print(
                "\(store.expertCount) complete experts in \(store.directory); final test accuracy "
                    + "\(accuracies.map { String(fixed: ($0.last ?? 0) * 100, 2) + "%" }.joined(separator: ", "))"
            )
        }
    }
}

struct Distill: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Distil from the experts in <out>/experts or experts.dir (checkpoints; resumes).")
    @OptionGroup var settings: SettingsOptions

    func run() throws {
        try runWithData(settings) { _, pipeline, data, printer throws(ASTError) in
            let state = try pipeline.distill(data: data, progress: printer.handle)
            _ = try pipeline.writeOutputs(data: data, state: state, store: nil, evaluation: nil)
            print(
                "distilled \(state.labels.count) images in \(state.iteration) iterations, α = \(state.stepSize); "
                    + "wrote \(settings.out)/distilled.safetensors and distilled.png"
            )
        }
    }
}

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Evaluate the distilled set in <out> (and a random real subset) with the protocol of docs/evaluation.md.")
    @OptionGroup var settings: SettingsOptions

    func run() throws {
        try runWithData(settings) { config, pipeline, data, printer throws(ASTError) in
            guard let state = try pipeline.loadCheckpoint() else {
                throw ASTError(
                    .io, "\(pipeline.checkpointPath): no distillation to evaluate; run `ast-distill distill` first")
            }
            let result = try pipeline.evaluate(data: data, state: state, progress: printer.handle)
            _ = try pipeline.writeOutputs(data: data, state: state, store: nil, evaluation: result)
            printTable(result.distilled, result.baseline, config: config, stepSize: state.stepSize)
        }
    }
}

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a trajectory store directory or a libast safetensors file.")
    @Argument(help: "A directory of expert_*.safetensors, or a .safetensors file.") var path: String

    func run() throws {
        do throws(ASTError) {
            if BinaryFile.isDirectory(path) {
                let files = try listSafetensors(path)
                print("\(path): \(files.count) safetensors files")
                for f in files { try describe(path + "/" + f) }
            } else {
                try describe(path)
            }
        } catch {
            throw CommandFailure(error.message)
        }
    }

    func describe(_ file: String) throws(ASTError) {
        let st = try SafeTensorsFile(path: file)
        print("\(file):")
        for t in st.tensors { print("  tensor \(t.name) \(t.dtype.rawValue) \(t.shape)") }
        for key in st.metadataKeys where key != "settings" {
            let value = st.metadata[key] ?? ""
            print("  \(key): \(value.count > 160 ? String(value.prefix(160)) + "…" : value)")
        }
        if st.metadata["settings"] != nil { print("  settings: (JSON, \(st.metadata["settings"]!.count) bytes)") }
    }

    func listSafetensors(_ dir: String) throws(ASTError) -> [String] {
        guard let names = directoryEntries(dir) else { throw ASTError(.io, "\(dir): cannot open directory") }
        return names.filter { $0.hasSuffix(".safetensors") }.sorted()
    }
}

struct Render: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Render a distilled set (distilled.safetensors) to a PNG grid: one row per class with its name, a legend "
            + "row on top."
    )
    @Argument(help: "distilled.safetensors") var input: String
    @Argument(help: "Output PNG path.") var output: String
    @Option(help: "Pixels per image pixel (nearest-neighbour upscaling), 1...32.") var scale: Int = 4

    func validate() throws {
        guard (1...32).contains(scale) else { throw ValidationError("--scale \(scale) is outside 1...32") }
    }

    func run() throws {
        do throws(ASTError) {
            let size = try renderDistilled(input: input, output: output, scale: scale)
            print("wrote \(output) (\(size.width)x\(size.height))")
        } catch {
            throw CommandFailure(error.message)
        }
    }
}

/// A failure after the command line was understood: printed once as `ast-distill: error: ...`,
/// exit status 1.
struct CommandFailure: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

/// Parses, runs, and reports every error on standard error with one prefix: status 2 for a wrong
/// command line (ArgumentParser's errors, ValidationError), 1 for a failure, 130 after Ctrl-C.
func main() -> Never {
    do {
        var command = try ASTDistillCommand.parseAsRoot()
        try command.run()
        exit(0)
    } catch let failure as CommandFailure {
        writeError("ast-distill: error: \(failure.message)\n")
        exit(1)
    } catch let code as ExitCode {
        exit(code.rawValue)
    } catch {
        let status = ASTDistillCommand.exitCode(for: error)
        if status == .success {
            ASTDistillCommand.exit(withError: error)  // --help, --version: printed as asked
        }
        if let asError = error as? ASTError {  // settings from --set/--config: a failure, not usage
            writeError("ast-distill: error: \(asError.message)\n")
            exit(1)
        }
        let message = ASTDistillCommand.message(for: error)
        writeError("ast-distill: error: \(message)\n(see `ast-distill help` and `ast-distill help <subcommand>`)\n")
        exit(2)
    }
}

main()
