// ASTDistill: augmentation, whitening, experts, distillation and evaluation — the AST pipeline.
//
// Augmentation*.swift      DSA: differentiable, replayable augmentation draws
// Whitening.swift, ChannelNormalization.swift   ZCA and per-channel normalisation (docs/algorithm.md §5)
// DataPreparation.swift    subset + preprocessing of a real train/test pair
// Training.swift           SGD training (PyTorch semantics), loss scaling, gradient penalty
// Experts.swift            MTT and AST expert settings and trainer (docs/algorithm.md §2)
// TrajectoryStore.swift    expert trajectories on disk (safetensors, atomic, resumable)
// SyntheticInitialization.swift   real / noise / k-means representative initialisation
// Distillation.swift       the outer loop (docs/algorithm.md §3) on ASTCore's constant-memory
//                          meta-gradient (docs/algorithm.md §7)
// Evaluation.swift         the final-accuracy protocol (docs/evaluation.md)
// RunConfiguration.swift   every setting, one table shared by CLI, config files, C and Python
// Pipeline.swift           the whole job as resumable steps over one output directory

/// The release of libast (and of ast-distill). Must equal AST_VERSION_STRING in include/ast.h
/// (checked by ASTCAPITests).
public let libastVersion = "0.2.0"
