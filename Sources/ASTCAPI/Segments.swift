// Distillation one segment at a time, for embedders that spread the segments of an iteration
// over their own processes (MPI, Horovod, torch.distributed, Ray): ast_run_distill_begin,
// ast_run_segment_gradient, ast_run_apply_gradient_sum. They reuse ASTDistill.Distiller
// (segmentGradient / apply), the code ast_run_distill runs.

import ASTCore
import ASTData
import ASTDistill
import CAst

extension RunBox {
    /// The distiller and the current state, prepared once (checkpoint or initial set).
    func segmentDistiller(_ args: Arguments) throws(CFailure) -> Distiller {
        if let distiller = segmentRunner, state != nil { return distiller }
        let data = try data(args)
        do throws(ASTError) {
            let (distiller, start) = try pipeline.prepareDistillation(data: data, writer: false)
            segmentRunner = distiller
            state = start
            evaluation = nil
            return distiller
        } catch {
            throw args.engine(error)
        }
    }
}

@c @implementation
public func ast_run_distill_begin(
    _ run: OpaquePointer!, _ outIteration: UnsafeMutablePointer<Int64>!,
    _ outSegments: UnsafeMutablePointer<Int64>!, _ outGradientLen: UnsafeMutablePointer<Int64>!
) -> ast_status {
    let args = Arguments("ast_run_distill_begin")
    return entry("ast_run_distill_begin", run, as: RunBox.self, argument: "run") { box throws(CFailure) in
        try box.exclusive(args) { () throws(CFailure) in
            let distiller = try box.segmentDistiller(args)
            guard let state = box.state else {
                throw args.fail(Status.internal, "no state after preparing the distillation")
            }
            outIteration?.pointee = Int64(state.iteration)
            outSegments?.pointee = Int64(box.config.distillation.segments)
            outGradientLen?.pointee = Int64(distiller.gradientLength(count: state.labels.count))
        }
    }
}

@c @implementation
public func ast_run_segment_gradient(
    _ run: OpaquePointer!, _ iteration: Int64, _ segment: Int64,
    _ out: UnsafeMutablePointer<Float>!, _ outLen: Int64
) -> ast_status {
    let args = Arguments("ast_run_segment_gradient")
    return entry("ast_run_segment_gradient", run, as: RunBox.self, argument: "run") { box throws(CFailure) in
        let out = try args.required(out, "out")
        let r = try args.integer(segment, "segment", in: 0...Int64(box.config.distillation.segments - 1))
        try box.exclusive(args) { () throws(CFailure) in
            guard let distiller = box.segmentRunner, let state = box.state else {
                throw args.fail(Status.invalidArgument, "call ast_run_distill_begin first")
            }
            guard iteration == Int64(state.iteration) else {
                throw args.fail(
                    Status.invalidArgument,
                    "iteration is \(iteration) but the run is at iteration \(state.iteration) (the sum of the "
                        + "previous one not applied yet, or applied twice?)"
                )
            }
            guard state.iteration < box.config.distillation.iterations else {
                throw args.fail(
                    Status.invalidArgument,
                    "the distillation is complete (\(state.iteration) of distill.iterations "
                        + "\(box.config.distillation.iterations))"
                )
            }
            let length = distiller.gradientLength(count: state.labels.count)
            try args.outputLength(outLen, "out_len", atLeast: length, "the gradient length (ast_run_distill_begin)")
            let gradient: SegmentGradient
            do throws(ASTError) {
                gradient = try distiller.segmentGradient(state, segment: r)
            } catch {
                throw args.engine(error)
            }
            try args.write(gradient.flattened, to: out, expected: length, "out")
        }
    }
}

@c @implementation
public func ast_run_apply_gradient_sum(
    _ run: OpaquePointer!, _ sum: UnsafePointer<Float>!, _ sumLen: Int64,
    _ writeCheckpoint: Int32
) -> ast_status {
    let args = Arguments("ast_run_apply_gradient_sum")
    return entry("ast_run_apply_gradient_sum", run, as: RunBox.self, argument: "run") { box throws(CFailure) in
        let sum = try args.required(sum, "sum")
        guard writeCheckpoint == 0 || writeCheckpoint == 1 else {
            throw args.fail(Status.invalidArgument, "write_checkpoint must be 0 or 1, got \(writeCheckpoint)")
        }
        try box.exclusive(args) { () throws(CFailure) in
            guard let distiller = box.segmentRunner, var state = box.state else {
                throw args.fail(Status.invalidArgument, "call ast_run_distill_begin first")
            }
            guard state.iteration < box.config.distillation.iterations else {
                throw args.fail(
                    Status.invalidArgument,
                    "the distillation is complete (\(state.iteration) of distill.iterations "
                        + "\(box.config.distillation.iterations))"
                )
            }
            let length = distiller.gradientLength(count: state.labels.count)
            try args.inputLength(sumLen, "sum_len", equals: length, "the gradient length (ast_run_distill_begin)")
            let values = try args.finiteFloats(sum, count: length, "sum")
            do throws(ASTError) {
                let total = try SegmentGradient(flattened: values, imageElements: state.images.count)
                _ = try distiller.apply(total, to: &state)
                box.state = state
                box.evaluation = nil
                if writeCheckpoint == 1 && box.pipeline.checkpointDue(after: state.iteration) {
                    try box.pipeline.saveCheckpoint(state)
                }
            } catch {
                throw args.engine(error)
            }
        }
    }
}
