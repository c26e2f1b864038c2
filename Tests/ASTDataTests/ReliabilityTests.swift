// ReliabilityTests: the committed fuzz corpus (fuzz/corpus/<target>/: seeds and reproducers of
// findings) replayed through the parsers on every test run, and the known findings pinned down.
// The corpus is read from the source tree next to this file.

#if canImport(Glibc)
import Glibc
#endif
import ASTCore
@testable import ASTData
import Testing

/// fuzz/corpus/<target>/ of this checkout, or nil when the tests run without the source tree.
private func corpusFiles(_ target: String) -> [(name: String, bytes: [UInt8])]? {
    var root = "\(#filePath)"
    for _ in 0..<3 { root = String(root[..<(root.lastIndex(of: "/") ?? root.startIndex)]) }
    let dir = root + "/fuzz/corpus/" + target
    guard let handle = opendir(dir) else { return nil }
    defer { closedir(handle) }
    var files: [(String, [UInt8])] = []
    while let entry = readdir(handle) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        guard !name.hasPrefix("."), let bytes = try? BinaryFile.read(dir + "/" + name) else { continue }
        files.append((name, bytes))
    }
    return files.sorted { $0.0 < $1.0 }
}

@Suite struct FuzzCorpusReplay {
    /// Every parser accepts or rejects (with ASTError) every corpus file of its target, and the
    /// known-valid seeds decode.
    @Test func corpusFilesParseOrThrow() throws {
        guard let idx = corpusFiles("idx") else { return }  // no source tree: nothing to replay
        #expect(idx.count >= 5)
        let invalid: Set = ["float32-type"]
        for (name, bytes) in idx where !name.hasSuffix(".gz") {
            let decoded = try? IDX.decode(bytes, source: name)
            if !name.hasPrefix("crash"), !name.hasPrefix("finding") {
                #expect((decoded != nil) == !invalid.contains(name), "\(name)")
            }
        }
        for (name, bytes) in idx where name.hasSuffix(".gz") {
            #expect(throws: Never.self, "\(name)") { try IDX.decode(try inflateGzip(bytes), source: name) }
        }
        for (name, bytes) in corpusFiles("npy") ?? [] {
            _ = try? NPY.decode(bytes, source: name)
            _ = try? NPY.decodeStrings(bytes, source: name)
        }
        #expect(try NPY.decode(corpusFiles("npy")!.first { $0.name == "2x3-f4" }!.bytes).floats() == [0, 1, 2, 3, 4, 5])
        for (name, bytes) in corpusFiles("npz") ?? [] {
            guard let archive = try? NPZArchive(bytes: bytes, source: name) else { continue }
            for member in archive.names { _ = try? archive.array(member); _ = try? archive.strings(member) }
        }
        for target in ["safetensors", "store"] {
            for (name, bytes) in corpusFiles(target) ?? [] {
                guard let st = try? SafeTensorsFile(bytes: bytes, source: name) else { continue }
                for t in st.tensors { _ = try? st.floats(t.name); _ = try? st.tensor(t.name) }
            }
        }
        for (name, bytes) in corpusFiles("json") ?? [] { _ = try? JSONValue.parse(bytes, source: name) }
        for (name, bytes) in corpusFiles("gzip") ?? [] {
            _ = try? inflateGzip(bytes, maxOutput: 1 << 20, source: name)
            _ = try? inflateRaw(bytes, maxOutput: 1 << 16, source: name)
        }
    }

    /// Fuzz finding 1 (fixed): np.savez(f, **{"x.npy": a}) stores member "x.npy.npy"; numpy lists
    /// it as "x.npy", and so does NPZArchive.names; lookups by that name must find it.
    /// Reproducer: fuzz/corpus/npz/finding-1-name-ending-npy.
    @Test func npzMemberNameEndingInNpy() throws {
        guard let files = corpusFiles("npz"),
            let repro = files.first(where: { $0.name == "finding-1-name-ending-npy" })
        else { return }
        let archive = try NPZArchive(bytes: repro.bytes, source: "repro")
        #expect(archive.names == ["x.npy"])
        #expect(archive.contains("x.npy"))
        #expect((try? archive.array("x.npy"))?.count == 3)
    }
}

@Suite struct AtomicWrites {
    /// A failed atomic write (the directory cannot take a new file) leaves the old file intact
    /// and no temporary file, and the error names the path and the reason.
    @Test func failedWriteKeepsTheOldFile() throws {
        try withTempDirectory { dir in
            let path = dir + "/out.bin"
            try writeFileAtomically(path: path, bytes: [1, 2, 3])
            // A path whose directory is a regular file: ENOTDIR for any user, root included.
            let bad = path + "/x.bin"
            do throws(ASTError) {
                try writeFileAtomically(path: bad, bytes: [4])
                Issue.record("writing under a regular file succeeded")
            } catch {
                #expect(error.kind == .io)
                #expect(error.message.contains(bad) && error.message.contains("Not a directory"), "\(error.message)")
            }
            #expect(try BinaryFile.read(path) == [1, 2, 3])
            var names: [String] = []
            if let handle = opendir(dir) {
                while let e = readdir(handle) {
                    names.append(
                        withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                    )
                }
                closedir(handle)
            }
            #expect(names.sorted() == [".", "..", "out.bin"])
        }
    }
}
