// fuzz target: CIFAR-10 and CIFAR-100 binary batch files (the loader reads paths only, so the
// input goes through a memfd).
import ASTCore
import ASTData

private let batch = ScratchFile(name: "cifar-batch")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCIFAR(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    batch.set(inputBytes(data, size))
    for format in [CIFARFormat.cifar10, .cifar100] {
        if let set = try? loadCIFARBatches(paths: [batch.path], format: format) {
            precondition(set.count * (format == .cifar10 ? 3073 : 3074) == size, "record count disagrees with the size")
            blackHole(set.fingerprint)
        }
    }
    // Two batches concatenated by the loader.
    if let set = try? loadCIFARBatches(paths: [batch.path, batch.path], format: .cifar10) { blackHole(set.count) }
    return 0
}
