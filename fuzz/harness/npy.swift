// fuzz target: .npy decoding (numeric arrays and unicode string arrays) and re-encoding.
import ASTCore
import ASTData

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNPY(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = inputBytes(data, size)
    if let array = try? NPY.decode(bytes) {
        consume(array)
        // What was read must survive a write/read round trip unchanged.
        let again = try? NPY.decode(NPYWriter.encode(array))
        precondition(again == array, "npy round trip changed the array")
    }
    if let strings = try? NPY.decodeStrings(bytes) { blackHole(strings.map(\.count)) }
    return 0
}
