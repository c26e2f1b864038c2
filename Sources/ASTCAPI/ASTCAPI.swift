// ASTCAPI: the stable C ABI of include/ast.h — validation of every argument, copying between
// caller memory and Swift values, and mapping errors to statuses; the work itself is a call
// into ASTDistill or ASTCore that the Swift pipeline uses too.
//
// Errors.swift, Validation.swift   statuses, last-error messages, argument checks before use
// Handles.swift                    the objects behind the opaque handles (+1 Unmanaged)
// Config.swift                     ast_config over RunConfiguration's one settings table
// Dataset.swift, Network.swift     ast_dataset, ast_network (the ConvNet as a pure function)
// Matching.swift                   ast_matching_step / ast_matching_minibatches
// Run.swift, Segments.swift, Progress.swift   ast_run (the pipeline), segment-wise
//                                  distillation, progress callbacks
// Version.swift, exports.map       versions; the exported symbols (ast_* only)
