// ASTDistill: augmentation, whitening, experts, distillation and evaluation — the AST pipeline.
