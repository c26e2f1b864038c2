// fuzz target: safetensors files, from memory and from a file descriptor (the path used for
// trajectory stores, checkpoints and distilled sets), every accessor on every tensor.
import ASTCore
import ASTData

private let file = ScratchFile(name: "safetensors")

private func exercise(_ st: SafeTensorsFile) -> [[UInt8]] {
    var raws: [[UInt8]] = []
    for key in st.metadataKeys { blackHole(st.metadata[key]) }
    for info in st.tensors {
        precondition(st.info(info.name) == info && st.contains(info.name))
        let raw = try? st.rawBytes(info.name)
        if let raw { precondition(raw.count == info.dataOffsets.count, "rawBytes size disagrees with the header") }
        raws.append(raw ?? [])
        if let array = try? st.tensor(info.name) { consume(array) }
        if let floats = try? st.floats(info.name) { precondition(floats.count == info.count, "floats count disagrees") }
    }
    return raws
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensors(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = inputBytes(data, size)
    let fromMemory = try? SafeTensorsFile(bytes: bytes)
    file.set(bytes)
    let fromFile = try? SafeTensorsFile(path: file.path)
    // Both entry points must agree on what is valid and on its contents.
    precondition((fromMemory == nil) == (fromFile == nil), "memory and file parsers disagree on validity")
    if let fromMemory, let fromFile {
        precondition(fromMemory.names == fromFile.names && fromMemory.metadata == fromFile.metadata)
        precondition(exercise(fromMemory) == exercise(fromFile), "memory and file parsers disagree on data")
    }
    return 0
}
