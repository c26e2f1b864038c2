// SafeTensorsTests: writer -> reader round trips for every dtype, metadata, streaming reads from a
// file, a file written by the reference `safetensors` Python package, and corrupt inputs.

#if canImport(Glibc)
import Glibc
#endif
import ASTCore
@testable import ASTData
import Testing

/// A safetensors file from a header string and data bytes (nothing checked: tests lie on purpose).
private func stBytes(_ header: String, _ data: [UInt8] = [], claimedLength: UInt64? = nil) -> [UInt8] {
    var out = [UInt8]()
    let h = Array(header.utf8)
    appendU64(&out, claimedLength ?? UInt64(h.count))
    return out + h + data
}

/// Parses in memory and from a file, expecting the same error from both.
private func expectRejected(
    _ bytes: [UInt8], _ kind: ASTError.Kind = .format, _ fragments: String...,
    sourceLocation: SourceLocation = #_sourceLocation
) throws {
    for fragment in fragments + [""] {
        expectASTError(kind, fragment, sourceLocation: sourceLocation) { () throws(ASTError) in
            _ = try SafeTensorsFile(bytes: bytes, source: "bad.safetensors")
        }
    }
    try withTempDirectory { dir in
        let path = try writeFile(dir, "bad.safetensors", bytes)
        for fragment in fragments {
            expectASTError(kind, fragment, path, sourceLocation: sourceLocation) { () throws(ASTError) in
                _ = try SafeTensorsFile(path: path)
            }
        }
    }
}

/// `count` elements of `dtype` as deterministic bytes.
private func sampleBytes(_ dtype: SafeTensorsDType, count: Int) -> [UInt8] {
    patternBytes(count * dtype.size, seed: UInt64(dtype.size * 31 + dtype.rawValue.utf8.count))
}

/// The file made at development time by the reference implementation (safetensors 0.8.0 with
/// numpy 2.4.6), embedded so the test needs no Python:
///
///     import numpy as np
///     from safetensors.numpy import save_file
///     t = {
///         "weight": np.array([[0.5, -1.25, 3.0], [1e-3, -0.0, 65504.0]], dtype=np.float32),
///         "bias": np.array([0.1, -2.5], dtype=np.float64),
///         "step": np.array(7, dtype=np.int64),
///         "labels": np.array([-1, 0, 2147483647], dtype=np.int32),
///         "mask": np.array([[0, 1], [254, 255]], dtype=np.uint8),
///         "half": np.array([1.0, -2.0, 0.5], dtype=np.float16),
///         "flags": np.array([True, False]),
///         "small": np.array([-128, 127], dtype=np.int8),
///     }
///     save_file(t, "ref.safetensors", metadata={"format": "np", "source": "libast test"})
private let referenceFile: [UInt8] = [
    0x10, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x7b, 0x22, 0x5f, 0x5f, 0x6d, 0x65, 0x74, 0x61,
    0x64, 0x61, 0x74, 0x61, 0x5f, 0x5f, 0x22, 0x3a, 0x7b, 0x22, 0x66, 0x6f, 0x72, 0x6d, 0x61, 0x74,
    0x22, 0x3a, 0x22, 0x6e, 0x70, 0x22, 0x2c, 0x22, 0x73, 0x6f, 0x75, 0x72, 0x63, 0x65, 0x22, 0x3a,
    0x22, 0x6c, 0x69, 0x62, 0x61, 0x73, 0x74, 0x20, 0x74, 0x65, 0x73, 0x74, 0x22, 0x7d, 0x2c, 0x22,
    0x73, 0x74, 0x65, 0x70, 0x22, 0x3a, 0x7b, 0x22, 0x64, 0x74, 0x79, 0x70, 0x65, 0x22, 0x3a, 0x22,
    0x49, 0x36, 0x34, 0x22, 0x2c, 0x22, 0x73, 0x68, 0x61, 0x70, 0x65, 0x22, 0x3a, 0x5b, 0x5d, 0x2c,
    0x22, 0x64, 0x61, 0x74, 0x61, 0x5f, 0x6f, 0x66, 0x66, 0x73, 0x65, 0x74, 0x73, 0x22, 0x3a, 0x5b,
    0x30, 0x2c, 0x38, 0x5d, 0x7d, 0x2c, 0x22, 0x62, 0x69, 0x61, 0x73, 0x22, 0x3a, 0x7b, 0x22, 0x64,
    0x74, 0x79, 0x70, 0x65, 0x22, 0x3a, 0x22, 0x46, 0x36, 0x34, 0x22, 0x2c, 0x22, 0x73, 0x68, 0x61,
    0x70, 0x65, 0x22, 0x3a, 0x5b, 0x32, 0x5d, 0x2c, 0x22, 0x64, 0x61, 0x74, 0x61, 0x5f, 0x6f, 0x66,
    0x66, 0x73, 0x65, 0x74, 0x73, 0x22, 0x3a, 0x5b, 0x38, 0x2c, 0x32, 0x34, 0x5d, 0x7d, 0x2c, 0x22,
    0x77, 0x65, 0x69, 0x67, 0x68, 0x74, 0x22, 0x3a, 0x7b, 0x22, 0x64, 0x74, 0x79, 0x70, 0x65, 0x22,
    0x3a, 0x22, 0x46, 0x33, 0x32, 0x22, 0x2c, 0x22, 0x73, 0x68, 0x61, 0x70, 0x65, 0x22, 0x3a, 0x5b,
    0x32, 0x2c, 0x33, 0x5d, 0x2c, 0x22, 0x64, 0x61, 0x74, 0x61, 0x5f, 0x6f, 0x66, 0x66, 0x73, 0x65,
    0x74, 0x73, 0x22, 0x3a, 0x5b, 0x32, 0x34, 0x2c, 0x34, 0x38, 0x5d, 0x7d, 0x2c, 0x22, 0x6c, 0x61,
    0x62, 0x65, 0x6c, 0x73, 0x22, 0x3a, 0x7b, 0x22, 0x64, 0x74, 0x79, 0x70, 0x65, 0x22, 0x3a, 0x22,
    0x49, 0x33, 0x32, 0x22, 0x2c, 0x22, 0x73, 0x68, 0x61, 0x70, 0x65, 0x22, 0x3a, 0x5b, 0x33, 0x5d,
    0x2c, 0x22, 0x64, 0x61, 0x74, 0x61, 0x5f, 0x6f, 0x66, 0x66, 0x73, 0x65, 0x74, 0x73, 0x22, 0x3a,
    0x5b, 0x34, 0x38, 0x2c, 0x36, 0x30, 0x5d, 0x7d, 0x2c, 0x22, 0x68, 0x61, 0x6c, 0x66, 0x22, 0x3a,
    0x7b, 0x22, 0x64, 0x74, 0x79, 0x70, 0x65, 0x22, 0x3a, 0x22, 0x46, 0x31, 0x36, 0x22, 0x2c, 0x22,
    0x73, 0x68, 0x61, 0x70, 0x65, 0x22, 0x3a, 0x5b, 0x33, 0x5d, 0x2c, 0x22, 0x64, 0x61, 0x74, 0x61,
    0x5f, 0x6f, 0x66, 0x66, 0x73, 0x65, 0x74, 0x73, 0x22, 0x3a, 0x5b, 0x36, 0x30, 0x2c, 0x36, 0x36,
    0x5d, 0x7d, 0x2c, 0x22, 0x73, 0x6d, 0x61, 0x6c, 0x6c, 0x22, 0x3a, 0x7b, 0x22, 0x64, 0x74, 0x79,
    0x70, 0x65, 0x22, 0x3a, 0x22, 0x49, 0x38, 0x22, 0x2c, 0x22, 0x73, 0x68, 0x61, 0x70, 0x65, 0x22,
    0x3a, 0x5b, 0x32, 0x5d, 0x2c, 0x22, 0x64, 0x61, 0x74, 0x61, 0x5f, 0x6f, 0x66, 0x66, 0x73, 0x65,
    0x74, 0x73, 0x22, 0x3a, 0x5b, 0x36, 0x36, 0x2c, 0x36, 0x38, 0x5d, 0x7d, 0x2c, 0x22, 0x6d, 0x61,
    0x73, 0x6b, 0x22, 0x3a, 0x7b, 0x22, 0x64, 0x74, 0x79, 0x70, 0x65, 0x22, 0x3a, 0x22, 0x55, 0x38,
    0x22, 0x2c, 0x22, 0x73, 0x68, 0x61, 0x70, 0x65, 0x22, 0x3a, 0x5b, 0x32, 0x2c, 0x32, 0x5d, 0x2c,
    0x22, 0x64, 0x61, 0x74, 0x61, 0x5f, 0x6f, 0x66, 0x66, 0x73, 0x65, 0x74, 0x73, 0x22, 0x3a, 0x5b,
    0x36, 0x38, 0x2c, 0x37, 0x32, 0x5d, 0x7d, 0x2c, 0x22, 0x66, 0x6c, 0x61, 0x67, 0x73, 0x22, 0x3a,
    0x7b, 0x22, 0x64, 0x74, 0x79, 0x70, 0x65, 0x22, 0x3a, 0x22, 0x42, 0x4f, 0x4f, 0x4c, 0x22, 0x2c,
    0x22, 0x73, 0x68, 0x61, 0x70, 0x65, 0x22, 0x3a, 0x5b, 0x32, 0x5d, 0x2c, 0x22, 0x64, 0x61, 0x74,
    0x61, 0x5f, 0x6f, 0x66, 0x66, 0x73, 0x65, 0x74, 0x73, 0x22, 0x3a, 0x5b, 0x37, 0x32, 0x2c, 0x37,
    0x34, 0x5d, 0x7d, 0x7d, 0x20, 0x20, 0x20, 0x20, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x9a, 0x99, 0x99, 0x99, 0x99, 0x99, 0xb9, 0x3f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0xc0,
    0x00, 0x00, 0x00, 0x3f, 0x00, 0x00, 0xa0, 0xbf, 0x00, 0x00, 0x40, 0x40, 0x6f, 0x12, 0x83, 0x3a,
    0x00, 0x00, 0x00, 0x80, 0x00, 0xe0, 0x7f, 0x47, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x7f, 0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38, 0x80, 0x7f, 0x00, 0x01, 0xfe, 0xff,
    0x01, 0x00
]

@Suite struct SafeTensorsRoundTripTests {
    @Test(arguments: SafeTensorsDType.allCases)
    func everyDTypeRoundTrips(_ dtype: SafeTensorsDType) throws {
        let bytes = sampleBytes(dtype, count: 6)
        var writer = SafeTensorsWriter()
        try writer.add("x", dtype: dtype, shape: [2, 3], bytes: bytes)
        let encoded = try writer.encode()
        try withTempDirectory { dir in
            try writer.write(path: dir + "/x.safetensors")
            #expect(try BinaryFile.read(dir + "/x.safetensors") == encoded)
            for file in [try SafeTensorsFile(bytes: encoded), try SafeTensorsFile(path: dir + "/x.safetensors")] {
                #expect(file.names == ["x"])
                #expect(
                    file.info("x")
                        == SafeTensorsInfo(
                            name: "x", dtype: dtype, shape: [2, 3], count: 6,
                            dataOffsets: 0..<bytes.count))
                #expect(try file.rawBytes("x") == bytes)
                if let type = dtype.ndarrayType {
                    #expect(try file.tensor("x") == NDArray(shape: [2, 3], dtype: type, bytes: bytes))
                } else {
                    expectASTError(.unsupported, "dtype \(dtype.rawValue)", "rawBytes") { () throws(ASTError) in
                        _ = try file.tensor("x")
                    }
                }
            }
        }
        // The header names the dtype as the format spells it.
        let headerLength = Int(readU64(encoded, 0))
        #expect(headerLength % 8 == 0)
        let header = try JSONValue.parse(Array(encoded[8..<(8 + headerLength)]))
        #expect(header["x"]?["dtype"]?.string == dtype.rawValue)
        #expect(header["x"]?["shape"] == [2, 3])
        #expect(header["x"]?["data_offsets"] == [0, .number(Double(bytes.count))])
    }

    static let arrays: [(String, NDArray)] = {
        do {
            return [
                ("u8", try NDArray(shape: [2, 3], uint8: [0, 1, 2, 253, 254, 255])),
                ("i8", try NDArray(shape: [4], int8: [-128, -1, 0, 127])),
                ("i32", try NDArray(shape: [2, 2], int32: [Int32.min, -7, 0, Int32.max])),
                ("i64", try NDArray(shape: [3], int64: [Int64.min, 42, Int64.max])),
                ("f32", try NDArray(shape: [1, 2, 2], float32: [1.5, -0.0, .infinity, 3e-38])),
                ("f64", try NDArray(shape: [2], float64: [0.1, -1e300])),
                ("bool", try NDArray(shape: [3], bool: [true, false, true])),
                ("scalar", try NDArray(shape: [], float64: [0.25])),
                ("empty", try NDArray(shape: [0, 5], float32: [])),
                ("nan", try NDArray(shape: [1], float32: [.nan]))
            ]
        } catch {
            fatalError("sample arrays: \(error)")
        }
    }()

    @Test func mixedFileWithMetadata() throws {
        var writer = SafeTensorsWriter(metadata: ["zeta": "last", "format": "pt"])
        writer.setMetadata("ünïcode \"quoted\"\n", forKey: "note")
        writer.setMetadata("np", forKey: "format")  // replaces, keeps its place
        for (name, array) in Self.arrays { try writer.add(name, array) }
        #expect(writer.count == Self.arrays.count)
        let encoded = try writer.encode()
        #expect(try writer.encode() == encoded)  // deterministic

        let file = try SafeTensorsFile(bytes: encoded)
        #expect(file.names == Self.arrays.map(\.0))
        #expect(file.metadataKeys == ["format", "zeta", "note"])
        #expect(file.metadata == ["format": "np", "zeta": "last", "note": "ünïcode \"quoted\"\n"])
        #expect((8 + file.headerLength) % 8 == 0)
        for (name, array) in Self.arrays {
            let loaded = try file.tensor(name)
            #expect(loaded.shape == array.shape)
            #expect(loaded.dtype == array.dtype)
            #expect(loaded.bytes == array.bytes)  // bitwise, so NaN compares too
            // Every tensor is aligned to its element size in the file.
            let info = try #require(file.info(name))
            #expect((8 + file.headerLength + info.dataOffsets.lowerBound) % array.dtype.size == 0)
        }
        #expect(file.dataLength == Self.arrays.reduce(0) { $0 + $1.1.bytes.count })
    }

    @Test func floatsFromEveryConvertibleDType() throws {
        var writer = SafeTensorsWriter()
        try writer.add("f32", shape: [3], floats: [1.5, -2, 0x1p-130])
        try writer.add("f64", NDArray(shape: [2], float64: [0.1, -3]))
        try writer.add("i64", NDArray(shape: [2], int64: [-5, 1 << 40]))
        try writer.add("i32", NDArray(shape: [1], int32: [-7]))
        try writer.add("u8", NDArray(shape: [2], uint8: [0, 255]))
        try writer.add("i8", NDArray(shape: [1], int8: [-128]))
        try writer.add("bool", NDArray(shape: [2], bool: [true, false]))
        // binary16: 1, -2, 0.5, largest subnormal, smallest subnormal, 65504, inf, -0, NaN
        let halves: [UInt16] = [0x3c00, 0xc000, 0x3800, 0x03ff, 0x0001, 0x7bff, 0x7c00, 0x8000, 0x7e00]
        try writer.add(
            "f16", dtype: .f16, shape: [halves.count], bytes: halves.flatMap { [UInt8($0 & 0xff), UInt8($0 >> 8)] })
        // bfloat16: 1, -2.5, 3.140625
        let bf: [UInt16] = [0x3f80, 0xc020, 0x4049]
        try writer.add("bf16", dtype: .bf16, shape: [3], bytes: bf.flatMap { [UInt8($0 & 0xff), UInt8($0 >> 8)] })
        try writer.add("i16", dtype: .i16, shape: [2], bytes: [0x00, 0x80, 0xff, 0x7f])
        try writer.add("u16", dtype: .u16, shape: [1], bytes: [0xff, 0xff])
        try writer.add("u32", dtype: .u32, shape: [1], bytes: [0xff, 0xff, 0xff, 0xff])
        try writer.add("u64", dtype: .u64, shape: [1], bytes: [0, 0, 0, 0, 0, 0, 0, 0x80])
        try writer.add("f8", dtype: .f8E4M3, shape: [1], bytes: [0x38])
        try writer.add("c64", dtype: .c64, shape: [1], bytes: [UInt8](repeating: 0, count: 8))

        try withTempDirectory { dir in
            try writer.write(path: dir + "/f.safetensors")
            for file in [try SafeTensorsFile(path: dir + "/f.safetensors"), try SafeTensorsFile(bytes: writer.encode())]
            {
                #expect(try file.floats("f32") == [1.5, -2, 0x1p-130])
                #expect(try file.floats("f64") == [Float(0.1), -3])
                #expect(try file.floats("i64") == [-5, 1_099_511_627_776])
                #expect(try file.floats("i32") == [-7])
                #expect(try file.floats("u8") == [0, 255])
                #expect(try file.floats("i8") == [-128])
                #expect(try file.floats("bool") == [1, 0])
                let h = try file.floats("f16")
                #expect(Array(h[0..<8]) == [1, -2, 0.5, 0x1.ff8p-15, 0x1p-24, 65504, .infinity, -0.0])
                #expect(h[7].sign == .minus)
                #expect(h[8].isNaN)
                #expect(try file.floats("bf16") == [1, -2.5, 3.140625])
                #expect(try file.floats("i16") == [-32768, 32767])
                #expect(try file.floats("u16") == [65535])
                #expect(try file.floats("u32") == [0x1p32])  // 2^32 - 1 rounds up
                #expect(try file.floats("u64") == [0x1p63])
                for name in ["f8", "c64"] {
                    expectASTError(.unsupported, name) { () throws(ASTError) in _ = try file.floats(name) }
                }
                expectASTError(.invalidArgument, "no tensor named 'nope'") { () throws(ASTError) in
                    _ = try file.floats("nope")
                }
                expectASTError(.invalidArgument, "no tensor named") { () throws(ASTError) in _ = try file.tensor("nope")
                }
                #expect(!file.contains("nope") && file.contains("f32"))
            }
        }
    }

    @Test func streamsOneTensorAtATime() throws {
        // A small "trajectory store": several experts' flat parameters, read back one by one.
        var writer = SafeTensorsWriter(metadata: ["kind": "trajectories", "experts": "4"])
        var experts = [[Float]]()
        for e in 0..<4 {
            let values = (0..<5000).map { Float($0 % 97) * 0.01 - Float(e) }
            experts.append(values)
            try writer.add("expert_\(e)/epoch_0", shape: [50, 100], floats: values)
        }
        try withTempDirectory { dir in
            let path = dir + "/store.safetensors"
            try writer.write(path: path)
            let file = try SafeTensorsFile(path: path)
            #expect(file.metadata["experts"] == "4")
            for e in [2, 0, 3, 1] {
                #expect(try file.floats("expert_\(e)/epoch_0") == experts[e])
            }
            #expect(try file.tensor("expert_1/epoch_0").floats() == experts[1])
        }
    }

    @Test func writerRejectsBadInput() throws {
        var writer = SafeTensorsWriter()
        try writer.add("a", shape: [2], floats: [1, 2])
        expectASTError(.invalidArgument, "'a' was already added") { () throws(ASTError) in
            try writer.add("a", shape: [1], floats: [3])
        }
        expectASTError(.invalidArgument, "__metadata__") { () throws(ASTError) in
            try writer.add("__metadata__", shape: [1], floats: [3])
        }
        expectASTError(.shapeMismatch, "needs 12 bytes, got 11") { () throws(ASTError) in
            try writer.add("b", dtype: .f32, shape: [3], bytes: [UInt8](repeating: 0, count: 11))
        }
        expectASTError(.invalidArgument, "negative size") { () throws(ASTError) in
            try writer.add("c", dtype: .u8, shape: [-1], bytes: [])
        }
        expectASTError(.invalidArgument, "overflows") { () throws(ASTError) in
            try writer.add("d", dtype: .f64, shape: [1 << 62, 4], bytes: [])
        }
        #expect(writer.count == 1)
        // An empty file (no tensors, no metadata) is valid.
        let empty = try SafeTensorsWriter().encode()
        #expect(empty == stBytes("{}      "))
        let file = try SafeTensorsFile(bytes: empty)
        #expect(file.names.isEmpty && file.metadata.isEmpty && file.dataLength == 0)
    }
}

@Suite struct SafeTensorsReferenceTests {
    @Test func readsFileWrittenByThePythonPackage() throws {
        try withTempDirectory { dir in
            let path = try writeFile(dir, "ref.safetensors", referenceFile)
            for file in [try SafeTensorsFile(path: path), try SafeTensorsFile(bytes: referenceFile)] {
                #expect(Set(file.names) == ["weight", "bias", "step", "labels", "mask", "half", "flags", "small"])
                #expect(file.metadata == ["format": "np", "source": "libast test"])
                #expect(
                    try file.tensor("weight") == NDArray(shape: [2, 3], float32: [0.5, -1.25, 3.0, 1e-3, -0.0, 65504]))
                #expect(try file.floats("weight") == [0.5, -1.25, 3.0, 1e-3, -0.0, 65504])
                #expect(try file.tensor("bias") == NDArray(shape: [2], float64: [0.1, -2.5]))
                #expect(try file.tensor("step") == NDArray(shape: [], int64: [7]))
                #expect(try file.tensor("labels") == NDArray(shape: [3], int32: [-1, 0, 2_147_483_647]))
                #expect(try file.tensor("mask") == NDArray(shape: [2, 2], uint8: [0, 1, 254, 255]))
                #expect(try file.tensor("flags") == NDArray(shape: [2], bool: [true, false]))
                #expect(try file.tensor("small") == NDArray(shape: [2], int8: [-128, 127]))
                #expect(file.info("half")?.dtype == .f16)
                #expect(try file.floats("half") == [1, -2, 0.5])
            }
        }
    }

    @Test func rewritingTheReferenceKeepsEveryTensor() throws {
        let original = try SafeTensorsFile(bytes: referenceFile)
        var writer = SafeTensorsWriter()
        for key in original.metadataKeys { writer.setMetadata(original.metadata[key] ?? "", forKey: key) }
        for info in original.tensors {
            try writer.add(info.name, dtype: info.dtype, shape: info.shape, bytes: original.rawBytes(info.name))
        }
        let copy = try SafeTensorsFile(bytes: writer.encode())
        #expect(copy.names == original.names)
        #expect(copy.metadata == original.metadata)
        for name in original.names {
            #expect(copy.info(name)?.shape == original.info(name)?.shape)
            #expect(try copy.rawBytes(name) == original.rawBytes(name))
        }
        // Same layout rule as the reference: largest elements first, so the data size matches.
        #expect(copy.dataLength == original.dataLength)
    }
}

@Suite struct SafeTensorsCorruptTests {
    private static let f32x2 = #""a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}"#

    @Test func tooShortAndTruncatedHeaders() throws {
        try expectRejected([], .format, "0 bytes is too short")
        try expectRejected([1, 0, 0], .format, "3 bytes is too short")
        try expectRejected(
            stBytes("{}", claimedLength: 100), .format, "header length 100 runs past the end of the file (10 bytes)")
        // A truncated copy of a valid file: the header claims more than remains.
        try expectRejected(Array(referenceFile.prefix(300)), .format, "header length 528 runs past the end")
        // Header complete but data cut short.
        try expectRejected(Array(referenceFile.dropLast(3)), .format, "run past the end of the 71-byte data buffer")
    }

    @Test func absurdHeaderLengthFailsFast() throws {
        // 2^60: rejected from the 8-byte prefix alone, before any allocation.
        try expectRejected(
            stBytes("{}", claimedLength: 1 << 60), .format, "header length 1152921504606846976 runs past the end")
        try expectRejected(stBytes("{}", claimedLength: UInt64.max), .format, "header length 18446744073709551615")
        // Within a (sparse) file but beyond the format's 100 MB cap.
        try withTempDirectory { dir in
            let path = try writeFile(dir, "huge.safetensors", stBytes("{}", claimedLength: 150_000_000))
            #expect(truncate(path, 200_000_000) == 0)
            expectASTError(.format, "header length 150000000 exceeds the limit of 100000000") { () throws(ASTError) in
                _ = try SafeTensorsFile(path: path)
            }
        }
    }

    @Test func malformedHeaderJSON() throws {
        try expectRejected(stBytes(" {}"), .format, "does not start with '{'")
        try expectRejected(stBytes("[]"), .format, "does not start with '{'")
        try expectRejected(stBytes("{\"a\":}"), .format, "header", "byte offset 5")
        try expectRejected(stBytes("{}\u{0}\u{0}"), .format, "after the JSON value")
        try expectRejected(stBytes("{" + Self.f32x2 + ",}", [UInt8](repeating: 0, count: 8)), .format, "trailing comma")
        // Padding with spaces (and other JSON whitespace) is fine.
        _ = try SafeTensorsFile(bytes: stBytes("{" + Self.f32x2 + "}   \n ", [UInt8](repeating: 0, count: 8)))
        try expectRejected(
            stBytes("{" + Self.f32x2 + "," + Self.f32x2 + "}", [UInt8](repeating: 0, count: 8)),
            .format, "duplicate key \"a\"")
    }

    @Test func offsetsOutOfRangeOverlapsAndGaps() throws {
        let data = [UInt8](repeating: 0, count: 16)
        try expectRejected(
            stBytes(#"{"a":{"dtype":"U8","shape":[400],"data_offsets":[0,400]}}"#, data),
            .format, "tensor 'a'", "data_offsets [0, 400] run past the end of the 16-byte data buffer")
        try expectRejected(
            stBytes(
                #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"#
                    + #""b":{"dtype":"F32","shape":[3],"data_offsets":[4,16]}}"#,
                data),
            .format, "tensor 'b' at [4, 16] overlaps tensor 'a' at [0, 8]")
        // The same bytes claimed twice.
        try expectRejected(
            stBytes(
                #"{"a":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},"#
                    + #""b":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}}"#,
                data),
            .format, "overlaps")
        try expectRejected(
            stBytes(
                #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"#
                    + #""b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#,
                data),
            .format, "gap of 4 bytes before tensor 'b' at offset 8")
        try expectRejected(
            stBytes(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data),
            .format, "tensors cover 8 bytes but the data buffer holds 16")
        try expectRejected(stBytes("{}", [1, 2, 3]), .format, "tensors cover 0 bytes")
        try expectRejected(
            stBytes(#"{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}"#, data),
            .format, "end before they begin")
        try expectRejected(
            stBytes(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}"#, data),
            .format, "not a pair of non-negative integers")
        try expectRejected(
            stBytes(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,1e300]}}"#, data),
            .format, "not a pair of non-negative integers")
        try expectRejected(
            stBytes(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,16]}}"#, data),
            .format, "not a pair")
        try expectRejected(
            stBytes(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0.5,8]}}"#, data),
            .format, "not a pair")
        // Zero-size tensors may sit anywhere along the tiling, including at the end.
        let ok = try SafeTensorsFile(
            bytes: stBytes(
                #"{"z":{"dtype":"F32","shape":[0],"data_offsets":[16,16]},"#
                    + #""a":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},"#
                    + #""y":{"dtype":"U8","shape":[0,3],"data_offsets":[0,0]}}"#,
                data))
        #expect(try ok.tensor("z").shape == [0])
        #expect(try ok.rawBytes("y") == [])
    }

    @Test func shapeAndDTypeProblems() throws {
        let data = [UInt8](repeating: 0, count: 24)
        try expectRejected(
            stBytes(#"{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}}"#, Array(data.prefix(20))),
            .format, "tensor 'w': shape [2, 3] of F32 needs 24 bytes but data_offsets [0, 20] span 20")
        try expectRejected(
            stBytes(#"{"w":{"dtype":"F17","shape":[6],"data_offsets":[0,24]}}"#, data),
            .format, "tensor 'w': unknown dtype 'F17'")
        try expectRejected(
            stBytes(#"{"w":{"dtype":"f32","shape":[6],"data_offsets":[0,24]}}"#, data),
            .format, "unknown dtype 'f32'")
        try expectRejected(
            stBytes(#"{"w":{"dtype":"F4","shape":[48],"data_offsets":[0,24]}}"#, data),
            .unsupported, "sub-byte dtype F4")
        try expectRejected(
            stBytes(#"{"w":{"dtype":32,"shape":[6],"data_offsets":[0,24]}}"#, data),
            .format, "\"dtype\" is a number, not a string")
        try expectRejected(stBytes(#"{"w":{"shape":[6],"data_offsets":[0,24]}}"#, data), .format, "missing \"dtype\"")
        try expectRejected(stBytes(#"{"w":{"dtype":"U8","data_offsets":[0,24]}}"#, data), .format, "missing \"shape\"")
        try expectRejected(stBytes(#"{"w":{"dtype":"U8","shape":[24]}}"#, data), .format, "missing \"data_offsets\"")
        try expectRejected(
            stBytes(#"{"w":{"dtype":"U8","shape":24,"data_offsets":[0,24]}}"#, data),
            .format, "\"shape\" is a number, not an array")
        try expectRejected(
            stBytes(#"{"w":{"dtype":"U8","shape":[-24],"data_offsets":[0,24]}}"#, data),
            .format, "shape[0] is not a non-negative integer")
        try expectRejected(
            stBytes(#"{"w":{"dtype":"U8","shape":[4, 1.5],"data_offsets":[0,24]}}"#, data),
            .format, "shape[1] is not a non-negative integer")
        try expectRejected(
            stBytes(#"{"w":{"dtype":"U8","shape":[4,"6"],"data_offsets":[0,24]}}"#, data),
            .format, "shape[1]")
        try expectRejected(
            stBytes(#"{"w":{"dtype":"F64","shape":[4294967296,4294967296,4],"data_offsets":[0,24]}}"#, data),
            .format, "overflows")
        try expectRejected(
            stBytes(#"{"w":{"dtype":"F64","shape":[1099511627776,1048576,8],"data_offsets":[0,24]}}"#, data),
            .format, "overflows")
        try expectRejected(
            stBytes(#"{"w":{"dtype":"F64","shape":[1125899906842624,1024],"data_offsets":[0,24]}}"#, data),
            .format, "needs more than Int.max bytes")
        try expectRejected(
            stBytes(#"{"w":{"dtype":"U8","shape":[18014398509481984],"data_offsets":[0,24]}}"#, data),
            .format, "shape[0] is not a non-negative integer")
        try expectRejected(stBytes(#"{"w":[1,2]}"#, data), .format, "tensor 'w': entry is an array, not an object")
        // Unknown extra fields are ignored, as the reference implementation does.
        _ = try SafeTensorsFile(bytes: stBytes(#"{"w":{"dtype":"U8","shape":[24],"data_offsets":[0,24],"x":1}}"#, data))
    }

    @Test func metadataMustBeStrings() throws {
        let data = [UInt8](repeating: 0, count: 8)
        try expectRejected(
            stBytes(#"{"__metadata__":{"lr":0.01},"# + Self.f32x2 + "}", data),
            .format, "__metadata__ value of 'lr' is a number, not a string")
        try expectRejected(
            stBytes(#"{"__metadata__":{"a":"x","b":null},"# + Self.f32x2 + "}", data),
            .format, "'b' is null")
        try expectRejected(stBytes(#"{"__metadata__":{"a":{"b":"c"}}}"#), .format, "is an object, not a string")
        try expectRejected(
            stBytes(#"{"__metadata__":["a","b"]}"#), .format, "__metadata__ is an array, not an object of strings")
        try expectRejected(stBytes(#"{"__metadata__":{"a":"x","a":"y"}}"#), .format, "duplicate key \"a\"")
        let ok = try SafeTensorsFile(bytes: stBytes(#"{"__metadata__":{}}"#))
        #expect(ok.metadata.isEmpty && ok.names.isEmpty)
    }

    @Test func fileProblems() throws {
        try withTempDirectory { dir in
            expectASTError(.io, "missing.safetensors", "no such file") { () throws(ASTError) in
                _ = try SafeTensorsFile(path: dir + "/missing.safetensors")
            }
            expectASTError(.io, "not a regular file") { () throws(ASTError) in _ = try SafeTensorsFile(path: dir) }
            // A file truncated after it was opened fails on the read, not with a trap.
            var writer = SafeTensorsWriter()
            try writer.add("a", shape: [1000], floats: [Float](repeating: 1, count: 1000))
            try writer.add("b", shape: [1000], floats: [Float](repeating: 2, count: 1000))
            let path = dir + "/t.safetensors"
            try writer.write(path: path)
            let file = try SafeTensorsFile(path: path)
            let headerEnd = 8 + file.headerLength
            #expect(truncate(path, off_t(headerEnd + 4000 + 100)) == 0)
            #expect(try file.floats("a") == [Float](repeating: 1, count: 1000))
            expectASTError(.io, "file ended", "truncated") { () throws(ASTError) in _ = try file.floats("b") }
            expectASTError(.io, "file ended") { () throws(ASTError) in _ = try file.rawBytes("b") }
            expectASTError(.io, "file ended") { () throws(ASTError) in _ = try file.tensor("b") }
        }
    }

    @Test func mutatedFilesNeverTrap() throws {
        // Every prefix and many random byte edits of a valid file either parse or throw; a file
        // that parses can have all its tensors read.
        func exercise(_ bytes: [UInt8]) {
            guard let file = try? SafeTensorsFile(bytes: bytes) else { return }
            for name in file.names {
                _ = try? file.rawBytes(name)
                _ = try? file.tensor(name)
                _ = try? file.floats(name)
            }
        }
        for n in 0...referenceFile.count { exercise(Array(referenceFile.prefix(n))) }
        var rng = SeededGenerator(seed: 7)
        let interesting: [UInt8] = [0x00, 0x22, 0x2c, 0x30, 0x39, 0x5b, 0x5d, 0x7b, 0x7d, 0xff, 0x2d, 0x5c]
        for _ in 0..<3000 {
            var bytes = referenceFile
            for _ in 0..<(1 + Int(rng.next() % 3)) {
                let at = Int(rng.next() % UInt64(bytes.count))
                bytes[at] =
                    rng.next() % 2 == 0
                    ? UInt8(truncatingIfNeeded: rng.next())
                    : interesting[Int(rng.next() % UInt64(interesting.count))]
            }
            exercise(bytes)
        }
    }
}
