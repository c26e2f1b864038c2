// BinaryFile: whole-file reads and crash-safe whole-file writes through Glibc, with errors naming
// the file and the reason.

#if canImport(Glibc)
import Glibc
#endif
import ASTCore

/// Reading files whole. Every format in ASTData parses from memory, so this is the one place
/// that talks to the file system for reading.
public enum BinaryFile {
    /// Largest file `read` accepts by default (4 GiB): far above any dataset batch, far below
    /// what would exhaust memory by accident.
    public static let defaultMaxBytes = 1 << 32

    /// The whole file at `path`. Throws `.io` for a missing file, a permission problem, a
    /// directory, or a read error, and `.outOfMemory` when the file is larger than `maxBytes`.
    public static func read(_ path: String, maxBytes: Int = defaultMaxBytes) throws(ASTError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ioError(path, "cannot open", errno) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ioError(path, "cannot stat", errno) }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            throw ASTError(.io, "\(path): is a directory, not a file")
        }
        let expected = Int(st.st_size)
        guard expected <= maxBytes else {
            throw ASTError(.outOfMemory, "\(path): file is \(expected) bytes, more than the limit of \(maxBytes)")
        }
        var bytes = [UInt8]()
        bytes.reserveCapacity(max(expected, 0) + 1)
        // Read until EOF rather than trusting st_size: the file may change, or be a pipe.
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                let e = errno
                if e == EINTR { continue }
                throw ioError(path, "read failed", e)
            }
            if n == 0 { break }
            guard bytes.count + n <= maxBytes else {
                throw ASTError(.outOfMemory, "\(path): file grew past the limit of \(maxBytes) bytes while reading")
            }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return bytes
    }

    /// Whether `path` names something that exists (file, directory, ...).
    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0
    }

    /// Whether `path` names a directory.
    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }
}

/// The names of the entries of `directory` (files and subdirectories, without "." and ".."),
/// unsorted; nil when it cannot be opened (errno says why).
public func directoryEntries(_ directory: String) -> [String]? {
    guard let dir = opendir(directory) else { return nil }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = directoryEntryName(entry)
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}

/// The name of a `readdir` entry. Read through the entry's own NUL-terminated `d_name`, never
/// as a copy of the whole 256-byte field: the kernel packs entries by their real length, so the
/// bytes after the name's NUL belong to the next entry or to unwritten buffer space (valgrind:
/// "conditional jump depends on uninitialised value" in every directory scan before this).
private func directoryEntryName(_ entry: UnsafeMutablePointer<dirent>) -> String {
    withUnsafeMutablePointer(to: &entry.pointee.d_name) { field in
        field.withMemoryRebound(to: CChar.self, capacity: 1) { String(cString: $0) }
    }
}

/// Removes the temporary files that interrupted `writeFileAtomically(path:…)` calls for `path`
/// left behind (`.NAME.tmp.XXXXXX` beside it; a SIGKILL mid-write leaves one). Only call it
/// when no other process is writing `path`. Returns how many were removed.
@discardableResult
public func removeStaleTemporaryFiles(of path: String) -> Int {
    let (directory, base) = splitPath(path)
    guard !base.isEmpty, let names = directoryEntries(directory) else { return 0 }
    let prefix = ".\(base).tmp."
    let stale = names.filter { $0.hasPrefix(prefix) && $0.count == prefix.count + 6 }
    return stale.filter { unlink("\(directory)/\($0)") == 0 }.count
}

/// Replaces the file at `path` with `bytes` so that a crash leaves either the old or the new
/// contents, never a torn file: write a temporary file in the same directory, fsync it, rename it
/// over `path`, then fsync the directory. On any failure the temporary file is removed, `path` is
/// left as it was, and the error (`.io`) carries the path and the system's reason.
public func writeFileAtomically(path: String, bytes: [UInt8]) throws(ASTError) {
    guard !path.isEmpty else { throw ASTError.invalid("writeFileAtomically: path is empty") }
    let (directory, base) = splitPath(path)
    guard !base.isEmpty else { throw ASTError.invalid("\(path): names a directory, not a file") }
    var template = Array("\(directory)/.\(base).tmp.XXXXXX".utf8CString)
    let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
    guard fd >= 0 else { throw ioError(path, "cannot create a temporary file in \(directory)", errno) }
    let tempPath = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    var closed = false
    func fail(_ what: String, _ code: Int32) -> ASTError {
        if !closed { close(fd) }
        unlink(tempPath)
        return ioError(path, what, code)
    }

    // mkstemp creates 0600; a data file is normally world-readable.
    _ = fchmod(fd, 0o644)
    var written = 0
    while written < bytes.count {
        let n = bytes.withUnsafeBytes { raw in
            Glibc.write(fd, raw.baseAddress! + written, raw.count - written)
        }
        if n < 0 {
            let e = errno
            if e == EINTR { continue }
            throw fail("write failed", e)
        }
        written += n
    }
    guard fsync(fd) == 0 else { throw fail("fsync failed", errno) }
    closed = true
    guard close(fd) == 0 else { throw fail("close failed", errno) }
    guard rename(tempPath, path) == 0 else { throw fail("cannot rename \(tempPath) over it", errno) }
    // Make the rename itself durable; a directory that cannot be opened or synced (some
    // file systems refuse) does not undo a completed rename, so this step is best effort.
    let dirFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if dirFD >= 0 {
        _ = fsync(dirFD)
        close(dirFD)
    }
}

/// Directory (or ".") and last component of a path.
func splitPath(_ path: String) -> (directory: String, base: String) {
    let utf8 = Array(path.utf8)
    guard let slash = utf8.lastIndex(of: UInt8(ascii: "/")) else { return (".", path) }
    let dir = slash == 0 ? "/" : String(decoding: utf8[..<slash], as: UTF8.self)
    return (dir, String(decoding: utf8[(slash + 1)...], as: UTF8.self))
}

/// Joins a directory and a file name with one slash.
func joinPath(_ directory: String, _ name: String) -> String {
    directory.hasSuffix("/") ? directory + name : directory + "/" + name
}

/// `.io` error "<path>: <what>: <strerror>" with plain words for the common cases.
func ioError(_ path: String, _ what: String, _ code: Int32) -> ASTError {
    let reason: String
    switch code {
    case ENOENT: reason = "no such file or directory"
    case EACCES, EPERM: reason = "permission denied"
    case EISDIR: reason = "is a directory"
    default:
        if let text = strerror(code) { reason = String(cString: text) } else { reason = "errno \(code)" }
    }
    return ASTError(.io, "\(path): \(what): \(reason)")
}
