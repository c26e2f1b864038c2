import ASTCore
import ASTDistill
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Set by SIGINT: the next progress event asks the pipeline to save and stop.
let interrupted = Atomic<Bool>(false)

func installInterruptHandler() {
    signal(SIGINT) { _ in interrupted.store(true, ordering: .relaxed) }
}

/// Writes to standard error (fd 2) without touching C's `stderr` global.
func writeError(_ text: String, _ ignored: Int32 = 0) {
    var t = text
    t.withUTF8 { buffer in _ = write(STDERR_FILENO, buffer.baseAddress, buffer.count) }
}

func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "--:--" }
    let s = Int(seconds.rounded())
    return s >= 3600 ? "\(s / 3600)h\(String(twoDigits: (s % 3600) / 60))m" : "\(s / 60):\(String(twoDigits: s % 60))"
}

extension String {
    init(twoDigits value: Int) { self = value < 10 ? "0\(value)" : String(value) }
    /// Pads with spaces on the right to `width` characters.
    func padded(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }

    init(fixed value: Double, _ digits: Int) {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let v = (value * scale).rounded() / scale
        var text = String(v)
        if let dot = text.firstIndex(of: ".") {
            let decimals = text.distance(from: dot, to: text.endIndex) - 1
            if decimals < digits { text += String(repeating: "0", count: digits - decimals) }
        } else if digits > 0 {
            text += "." + String(repeating: "0", count: digits)
        }
        self = text
    }
}

/// Renders pipeline events: a one-line progress bar with ETA on a terminal, plain log lines
/// otherwise (every event of a phase's start and end, and every ~5 % in between).
final class ProgressPrinter {
    let terminal = isatty(STDERR_FILENO) != 0
    var phase = ""
    var phaseStart = monotonicSeconds()
    var lastLogged = -1.0

    func line(_ text: String) {
        if terminal { writeError("\r\u{1B}[2K") }
        writeError(text + "\n")
    }

    /// Clears a half-drawn bar so what follows starts on its own line.
    func finish() {
        if terminal { writeError("\r\u{1B}[2K") }
    }

    func bar(_ phase: String, _ done: Int, _ total: Int, _ detail: String) {
        if phase != self.phase {
            self.phase = phase
            phaseStart = monotonicSeconds()
            lastLogged = -1
        }
        let fraction = total > 0 ? Double(done) / Double(total) : 1
        let elapsed = monotonicSeconds() - phaseStart
        let eta = fraction > 0 ? elapsed * (1 - fraction) / fraction : .infinity
        if terminal {
            let width = 24
            let filled = Int(fraction * Double(width))
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            writeError(
                "\r\u{1B}[2K\(phase) [\(bar)] \(done)/\(total) \(detail) elapsed \(formatDuration(elapsed)) eta "
                    + "\(formatDuration(eta))"
            )
            if done >= total { writeError("\n") }
        } else if fraction - lastLogged >= 0.05 || done >= total || done <= 1 {
            lastLogged = fraction
            writeError(
                "\(phase) \(done)/\(total) \(detail) (elapsed \(formatDuration(elapsed)), eta \(formatDuration(eta)))\n"
            )
        }
    }

    /// The pipeline's progress callback: false (stop) once Ctrl-C was pressed.
    func handle(_ event: PipelineEvent) -> Bool {
        switch event {
        case .message(let text):
            line(text)
        case .expertEpoch(let expert, let epoch, let epochs, let accuracy):
            bar("expert \(expert)", epoch, epochs, "test acc \(String(fixed: accuracy * 100, 1))%")
        case .distillIteration(let r, let total):
            bar("distill", r.iteration, total, "loss \(String(fixed: Double(r.loss), 4)) syn_lr \(r.stepSize)")
        case .checkpoint:
            break
        case .evaluationEpoch(let what, let model, let models, let epoch, let epochs):
            bar("evaluate \(what) \(model + 1)/\(models)", epoch, epochs, "")
        case .evaluated(let what, let result):
            line(
                "\(what): \(String(fixed: result.mean * 100, 2)) ± "
                    + "\(String(fixed: result.standardDeviation * 100, 2)) % over \(result.accuracies.count) networks"
            )
        }
        if interrupted.load(ordering: .relaxed) {
            line("interrupted: saving and stopping (rerun the same command to resume)")
            return false
        }
        return true
    }
}
