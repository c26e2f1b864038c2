// fuzz target: .npz archives (zip central directory, stored and deflated members, zip64, CRC).
import ASTCore
import ASTData

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNPZ(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let archive = try? NPZArchive(bytes: inputBytes(data, size)) else { return 0 }
    for name in archive.names {
        // Finding 1 (README "Reliability"): a member "x.npy.npy" is listed as "x.npy", but lookups
        // strip ".npy" again and miss it. Checked only for other names until that is fixed; the
        // reproducer is fuzz/corpus/npz/finding-1-name-ending-npy.
        if !name.hasSuffix(".npy") { precondition(archive.contains(name), "a listed name is not found") }
        if let array = try? archive.array(name) { consume(array) }
        if let strings = try? archive.strings(name) { blackHole(strings) }
    }
    _ = try? archive.array("no such member")
    return 0
}
