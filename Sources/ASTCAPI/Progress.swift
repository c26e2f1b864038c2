// Pipeline events -> ast_progress callbacks, with sticky cancellation: once the callback
// returned nonzero, every later event answers "stop" without calling it again, so the
// pipeline stops at its next clean stopping point (after saving) even when the request came
// with an event it cannot stop at.

import ASTCore
import ASTDistill
import CAst

final class ProgressBridge {
    private let callback: ast_progress_fn?
    private let userData: UnsafeMutableRawPointer?
    private let start = monotonicSeconds()
    /// Experts in the current generate call (ast_progress.count of expert events).
    var expertsInCall: Int64 = 0
    private(set) var cancelRequested = false

    init(_ callback: ast_progress_fn?, _ userData: UnsafeMutableRawPointer?) {
        self.callback = callback
        self.userData = userData
    }

    /// The PipelineProgress closure: true = continue.
    func handle(_ event: PipelineEvent) -> Bool {
        if cancelRequested { return false }
        guard let callback else { return true }
        var p = ast_progress()
        p.struct_size = Int32(MemoryLayout<ast_progress>.size)
        p.loss = .nan
        p.accuracy = .nan
        p.accuracy_std = .nan
        p.step_size = .nan
        p.elapsed_seconds = monotonicSeconds() - start
        var text: String? = nil
        switch event {
        case .message(let message):
            p.stage = Int32(AST_STAGE_MESSAGE)
            text = message
        case .expertEpoch(let expert, let epoch, let epochs, let accuracy):
            p.stage = Int32(AST_STAGE_EXPERT_EPOCH)
            (p.step, p.total, p.index, p.count, p.accuracy) = (
                Int64(epoch), Int64(epochs), Int64(expert), expertsInCall, accuracy
            )
        case .distillIteration(let report, let total):
            p.stage = Int32(AST_STAGE_DISTILL_ITERATION)
            (p.step, p.total, p.loss, p.step_size) = (
                Int64(report.iteration), Int64(total), Double(report.loss), Double(report.stepSize)
            )
            (p.index, p.start_epoch) = (Int64(report.expert), Int64(report.startEpoch))
        case .checkpoint(let iteration, let path):
            p.stage = Int32(AST_STAGE_CHECKPOINT)
            (p.step, p.total) = (Int64(iteration), Int64(totalIterations))
            text = path
        case .evaluationEpoch(let what, let model, let models, let epoch, let epochs):
            p.stage = Int32(AST_STAGE_EVALUATION_EPOCH)
            (p.step, p.total, p.index, p.count) = (Int64(epoch), Int64(epochs), Int64(model), Int64(models))
            text = what
        case .evaluated(let what, let result):
            p.stage = Int32(AST_STAGE_EVALUATED)
            let n = Int64(result.accuracies.count)
            (p.step, p.total, p.count, p.accuracy, p.accuracy_std) = (n, n, n, result.mean, result.standardDeviation)
            text = what
        }
        let status: Int32
        if let text {
            status = text.withCString { pointer in
                p.message = pointer
                return callback(&p, userData)
            }
        } else {
            status = callback(&p, userData)
        }
        if status != 0 { cancelRequested = true }
        return status == 0
    }

    /// distill.iterations, for checkpoint events.
    var totalIterations = 0
}
