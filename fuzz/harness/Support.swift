// Shared helpers for the libFuzzer harnesses (compiled into every harness binary).
// A harness may only see ASTError thrown: any trap, sanitizer report, leak or runaway allocation
// is a finding.

#if canImport(Glibc)
import Glibc
#endif
import ASTCore
import ASTData

/// The fuzzer's input as an array.
@inline(__always)
func inputBytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    guard let data, size > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: size))
}

/// A scratch file whose contents are replaced by each input, for the parsers that only read
/// paths (CIFAR batches, SafeTensorsFile(path:), IDX.read). The file is unlinked as soon as it is
/// open; reopening "/proc/self/fd/N" gives a fresh file description, as a real path would.
final class ScratchFile: Sendable {
    let fd: Int32
    let path: String

    init(name: String) {
        let file = scratchDirectory(name) + "/" + name
        fd = open(file, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        precondition(fd >= 0, "cannot create \(file)")
        unlink(file)
        rmdir(String(file.dropLast(name.count + 1)))
        path = "/proc/self/fd/\(fd)"
    }

    func set(_ bytes: [UInt8]) {
        precondition(ftruncate(fd, 0) == 0)
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress! + written, $0.count - written, off_t(written)) }
            precondition(n > 0, "pwrite failed")
            written += n
        }
    }
}

/// A private scratch directory under $LIBAST_FUZZ_TMP (fuzz/run.sh sets it and removes it
/// afterwards), else /dev/shm or /tmp.
func scratchDirectory(_ tag: String) -> String {
    let base =
        getenv("LIBAST_FUZZ_TMP").map { String(cString: $0) }
        ?? (BinaryFile.isDirectory("/dev/shm") ? "/dev/shm" : "/tmp")
    var template = Array("\(base)/libast-fuzz-\(tag)-XXXXXX".utf8CString)
    return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
}

/// Replaces the file at `path` with `bytes` (plain write; the harness owns the directory).
func writeScratch(_ path: String, _ bytes: [UInt8]) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    precondition(fd >= 0, "cannot create \(path)")
    var written = 0
    while written < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
        precondition(n > 0, "write failed")
        written += n
    }
    close(fd)
}

/// Touches every element of a decoded array so lazily wrong sizes surface under ASan.
func consume(_ array: NDArray) {
    var sum = 0.0
    for v in array.doubles() where v.isFinite { sum += v }
    blackHole(sum)
    _ = try? array.int64s()
    _ = try? array.scalarDouble
}

@inline(never)
func blackHole<T>(_ value: T) { withExtendedLifetime(value) {} }
