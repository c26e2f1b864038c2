// FileTests: whole-file reads, atomic writes and capped inflation.

#if canImport(Glibc)
import Glibc
#endif
import ASTCore
import ASTData
import Testing

@Suite struct BinaryFileTests {
    @Test func readsBackWhatWasWritten() throws {
        try withTempDirectory { dir in
            let data = patternBytes(3_000_001)
            let path = try writeFile(dir, "blob.bin", data)
            #expect(try BinaryFile.read(path) == data)
            try writeFileAtomically(path: path, bytes: [1, 2, 3])
            #expect(try BinaryFile.read(path) == [1, 2, 3])
            try writeFileAtomically(path: path, bytes: [])
            #expect(try BinaryFile.read(path) == [])
        }
    }

    @Test func missingFileAndDirectoryErrorsNameThePath() throws {
        try withTempDirectory { dir in
            expectASTError(.io, dir + "/nope.bin", "no such file") { () throws(ASTError) in
                _ = try BinaryFile.read(dir + "/nope.bin")
            }
            expectASTError(.io, dir, "is a directory") { () throws(ASTError) in _ = try BinaryFile.read(dir) }
        }
    }

    @Test func unreadableFileSaysPermissionDenied() throws {
        // root reads everything, so only an unprivileged run can see EACCES.
        guard getuid() != 0 else { return }
        try withTempDirectory { dir in
            let path = try writeFile(dir, "secret.bin", [1])
            chmod(path, 0)
            expectASTError(.io, "secret.bin", "permission denied") { () throws(ASTError) in
                _ = try BinaryFile.read(path)
            }
        }
    }

    @Test func sizeLimitIsEnforced() throws {
        try withTempDirectory { dir in
            let path = try writeFile(dir, "big.bin", patternBytes(100))
            expectASTError(.outOfMemory, "big.bin", "limit") { () throws(ASTError) in
                _ = try BinaryFile.read(path, maxBytes: 99)
            }
        }
    }

    @Test func failedAtomicWriteLeavesNoTempFileAndKeepsTheTarget() throws {
        try withTempDirectory { dir in
            // Renaming a file over a non-empty directory fails after the temp file is written.
            let target = dir + "/target"
            mkdir(target, 0o755)
            try writeFile(target, "inside", [9])
            expectASTError(.io, target, "rename") { () throws(ASTError) in
                try writeFileAtomically(path: target, bytes: [1, 2, 3])
            }
            #expect(try BinaryFile.read(target + "/inside") == [9])
            #expect(entries(of: dir) == ["target"])

            expectASTError(.io, dir + "/missing/x.bin", "temporary file") { () throws(ASTError) in
                try writeFileAtomically(path: dir + "/missing/x.bin", bytes: [1])
            }
            let kept = try writeFile(dir, "kept.bin", [4, 5])
            try writeFileAtomically(path: kept, bytes: [6])
            #expect(try BinaryFile.read(kept) == [6])
            #expect(entries(of: dir) == ["kept.bin", "target"])
        }
    }

    private func entries(of dir: String) -> [String] {
        var names = [String]()
        if let handle = opendir(dir) {
            while let entry = readdir(handle) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
                }
                if name != "." && name != ".." { names.append(name) }
            }
            closedir(handle)
        }
        return names.sorted()
    }
}

@Suite struct CompressionTests {
    @Test func gzipRoundTripAndConcatenatedMembers() throws {
        let a = patternBytes(100_000, seed: 2), b = Array(repeating: UInt8(7), count: 300_000)
        let gzA = try gzipCompress(a), gzB = try gzipCompress(b)
        #expect(isGzip(gzA))
        #expect(try inflateGzip(gzA, maxOutput: a.count) == a)
        #expect(try inflateGzip(gzA + gzB) == a + b)
        #expect(try inflateGzip(try gzipCompress([])) == [])
    }

    @Test func capStopsDecompressionBombs() throws {
        let zeros = [UInt8](repeating: 0, count: 10_000_000)
        let gz = try gzipCompress(zeros)
        #expect(gz.count < 20_000)
        expectASTError(.outOfMemory, "cap of 1000000") { () throws(ASTError) in
            _ = try inflateGzip(gz, maxOutput: 1_000_000)
        }
        #expect(try inflateGzip(gz, maxOutput: 10_000_000).count == 10_000_000)
        expectASTError(.outOfMemory, "cap") { () throws(ASTError) in _ = try inflateGzip(gz, maxOutput: 9_999_999) }
    }

    @Test func lyingSizeTrailerIsOnlyAHint() throws {
        var gz = try gzipCompress(patternBytes(1000))
        let n = gz.count
        gz[n - 4] = 0xFF; gz[n - 3] = 0xFF; gz[n - 2] = 0xFF; gz[n - 1] = 0x7F
        // The CRC still matches but ISIZE does not, which zlib reports; no 2 GiB allocation happens.
        expectASTError(.format, "corrupt") { () throws(ASTError) in _ = try inflateGzip(gz) }
    }

    @Test func truncatedAndCorruptStreamsThrowFormat() throws {
        let data = patternBytes(50_000, seed: 3)
        let gz = try gzipCompress(data)
        expectASTError(.format, "truncated") { () throws(ASTError) in
            _ = try inflateGzip(Array(gz[0..<(gz.count / 2)]), source: "half.gz")
        }
        expectASTError(.format, "trunc.gz") { () throws(ASTError) in
            _ = try inflateGzip(Array(gz.dropLast(3)), source: "trunc.gz")
        }
        var flipped = gz
        flipped[gz.count / 2] ^= 0xFF
        expectASTError(.format, "corrupt") { () throws(ASTError) in _ = try inflateGzip(flipped) }
        expectASTError(.format) { () throws(ASTError) in _ = try inflateGzip([0x1f, 0x8b, 1, 2, 3]) }
        expectASTError(.format, "empty") { () throws(ASTError) in _ = try inflateGzip([]) }
        expectASTError(.format, "unexpected bytes") { () throws(ASTError) in _ = try inflateGzip(gz + [1, 2, 3]) }
    }

    @Test func rawDeflateAsInZipMembers() throws {
        let data = patternBytes(20_000, seed: 4) + [UInt8](repeating: 1, count: 20_000)
        let raw = try rawDeflate(data)
        #expect(try inflateRaw(raw, maxOutput: data.count) == data)
        expectASTError(.outOfMemory) { () throws(ASTError) in _ = try inflateRaw(raw, maxOutput: data.count - 1) }
        expectASTError(.format, "truncated") { () throws(ASTError) in
            _ = try inflateRaw(Array(raw.prefix(100)), maxOutput: data.count)
        }
    }

    @Test func crc32MatchesKnownValue() {
        #expect(crc32Checksum(Array("123456789".utf8)[...]) == 0xCBF4_3926)
    }
}
