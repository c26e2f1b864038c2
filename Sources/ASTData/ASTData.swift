// ASTData: labelled image sets and the file formats they come in and go out as.
//
// ImageDataset.swift  the validated in-memory dataset and train/test pair
// BinaryFile.swift    whole-file reads and atomic writes (Glibc, no Foundation)
// Compression.swift   gzip / zlib / raw-deflate via zlib, with output caps
// NDArray.swift       NumPy-typed arrays as little-endian bytes
// NPY.swift, NPZ.swift  NumPy .npy / .npz reading and writing
// IDX.swift           MNIST-family IDX files and loaders
// CIFAR.swift         CIFAR-10/100 binary batches and loaders
// JSON.swift          strict JSON parser and deterministic serializer (configs, reports, metadata)
// SafeTensors.swift   safetensors reading (streamed per tensor) and atomic writing
// PNG.swift           PNG encoding and image grids
//
// Every parser reads from memory, checks header-claimed sizes against the bytes actually present
// before allocating, and throws ASTError naming the file and the problem; none traps on any input.
