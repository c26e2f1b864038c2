// fuzz target: gzip / zlib / raw deflate inflation with output caps, and the compress round trip.
import ASTCore
import ASTData

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGzip(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = inputBytes(data, size)
    let cap = 1 << 20
    if let out = try? inflateGzip(bytes, maxOutput: cap) {
        precondition(out.count <= cap, "inflateGzip exceeded its cap")
        let again = try? inflateGzip(gzipCompress(out), maxOutput: cap)
        precondition(again == out, "gzip round trip changed the data")
    }
    if let out = try? inflateRaw(bytes, maxOutput: 1 << 16) {
        precondition(out.count <= 1 << 16, "inflateRaw exceeded its cap")
    }
    // Small caps: the "exactly the cap" and "one byte over" paths.
    for small in [0, 1, 100] {
        if let out = try? inflateGzip(bytes, maxOutput: small) { precondition(out.count <= small) }
    }
    blackHole(crc32Checksum(bytes[...]))
    return 0
}
