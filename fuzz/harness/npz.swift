// fuzz target: .npz archives (zip central directory, stored and deflated members, zip64, CRC).
import ASTCore
import ASTData

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNPZ(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let archive = try? NPZArchive(bytes: inputBytes(data, size)) else { return 0 }
    for name in archive.names {
        // Every listed name must be found (finding 1, fixed: names ending in ".npy").
        precondition(archive.contains(name), "a listed name is not found")
        if let array = try? archive.array(name) { consume(array) }
        if let strings = try? archive.strings(name) { blackHole(strings) }
    }
    _ = try? archive.array("no such member")
    return 0
}
