// ASTCore: the differentiable engine — tensors, operations with first and second derivatives,
// the ConvNet as a function of a flat parameter vector, and the trajectory-matching
// meta-gradient on top of them.
//
// Tensor.swift, Autodiff.swift   tensors, the recorded graph, reverse mode (double backward)
// Broadcast.swift, Elementwise.swift, Indexing.swift   element-wise ops, gathers and slices
// MatMul.swift, Convolution.swift, Pooling.swift, Normalization.swift, Loss.swift   the layers
// VectorKernels.swift, Scalar.swift   SIMD plane kernels and the Float/Double BLAS bridge
// Parallel.swift, BufferPool.swift    libast's own workers (OpenBLAS single-threaded inside
//                                     them) and the reusable buffer cache
// ConvNet.swift                  ConvNet-D (conv, norm, ReLU, pool) × depth, then a linear layer
// TrajectoryMatching.swift       the exact, constant-memory meta-gradient of one unroll
// Random.swift, Clock.swift, ASTError.swift   the seeded generator, the clock, the error type
//
// Why the meta-gradient lives here and not in ASTDistill: it is a differentiation procedure
// over the network function (recompute each student step, apply Hessian-vector products,
// keep only the per-step parameter vectors), so it needs the engine's internals — unchecked
// ops, double backward, the buffer pool — and no pipeline concept. ASTDistill decides what to
// match (expert, start epoch, minibatches, augmentation, targets); this computes the gradient.
