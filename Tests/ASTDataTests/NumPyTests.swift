// NumPyTests: .npy round trips and rejections, .npz archives (stored, deflated, zip64, broken) and
// the committed oracle fixtures.

import ASTCore
@testable import ASTData
import Testing
import TestSupport

@Suite struct NPYTests {
    static let samples: [NDArray] = {
        do {
            return [
                try NDArray(shape: [2, 3], uint8: [0, 1, 2, 253, 254, 255]),
                try NDArray(shape: [4], int8: [-128, -1, 0, 127]),
                try NDArray(shape: [2, 2], int32: [Int32.min, -7, 0, Int32.max]),
                try NDArray(shape: [3], int64: [Int64.min, 42, Int64.max]),
                try NDArray(shape: [1, 2, 2], float32: [1.5, -0.0, .infinity, 3e-38]),
                try NDArray(shape: [2], float64: [0.1, -1e300]),
                try NDArray(shape: [3], bool: [true, false, true]),
                try NDArray(shape: [], float64: [0.25]),
                try NDArray(shape: [0, 5], float32: [])
            ]
        } catch {
            fatalError("sample arrays: \(error)")
        }
    }()

    @Test(arguments: samples)
    func roundTripsEveryDType(_ array: NDArray) throws {
        let encoded = NPYWriter.encode(array)
        let headerEnd = 10 + Int(encoded[8]) + Int(encoded[9]) << 8
        #expect(headerEnd % 64 == 0)
        #expect(encoded[headerEnd - 1] == 0x0a)
        let decoded = try NPY.decode(encoded)
        #expect(decoded == array)
        try withTempDirectory { dir in
            try NPYWriter.write(array, path: dir + "/a.npy")
            #expect(try NPY.read(path: dir + "/a.npy") == array)
        }
    }

    @Test func encodingMatchesNumPyByteForByte() throws {
        // np.save(f, np.array([1.5, -2], dtype='<f4'))
        let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }"
        let expected: [UInt8] =
            [147, 78, 85, 77, 80, 89, 1, 0, 118, 0] + Array(dict.utf8)
            + [UInt8](repeating: 0x20, count: 118 - dict.utf8.count - 1) + [0x0a, 0, 0, 0xc0, 0x3f, 0, 0, 0, 0xc0]
        #expect(NPYWriter.encode(try NDArray(shape: [2], float32: [1.5, -2])) == expected)
        // np.save(f, np.float64(0.25)): a 0-d array has shape ().
        let scalar = NPYWriter.encode(try NDArray(shape: [], float64: [0.25]))
        #expect(String(decoding: scalar[10..<80], as: UTF8.self).contains("'shape': (), }"))
    }

    @Test func conversions() throws {
        let ints = try NDArray(shape: [3], int32: [-2, 0, 7])
        #expect(ints.doubles() == [-2, 0, 7])
        #expect(ints.floats() == [-2, 0, 7])
        #expect(try ints.int64s() == [-2, 0, 7])
        let bytes = try NDArray(shape: [2], int8: [-3, 4])
        #expect(try bytes.int64s() == [-3, 4])
        let flags = try NDArray(shape: [2], bool: [true, false])
        #expect(flags.floats() == [1, 0])
        let wholes = try NDArray(shape: [2], float64: [3, -1e15])
        #expect(try wholes.int64s() == [3, -1_000_000_000_000_000])
        expectASTError(.format, "element 1") { () throws(ASTError) in
            _ = try NDArray(shape: [2], float32: [1, .nan]).int64s()
        }
        expectASTError(.format, "0.5") { () throws(ASTError) in _ = try NDArray(shape: [1], float64: [0.5]).int64s() }
        expectASTError(.format) { () throws(ASTError) in _ = try NDArray(shape: [1], float64: [1e30]).int64s() }
        #expect(try NDArray(shape: [], float32: [0.5]).scalarDouble == 0.5)
        #expect(try NDArray(shape: [1, 1], int64: [9]).scalarDouble == 9)
        expectASTError(.shapeMismatch, "shape [3] has 3 elements") { () throws(ASTError) in
            _ = try ints.dropFirstScalar()
        }
        expectASTError(.shapeMismatch, "needs 8 bytes") { () throws(ASTError) in
            _ = try NDArray(shape: [2], dtype: .f4, bytes: [1, 2, 3])
        }
    }

    @Test func rejectsBrokenFiles() throws {
        let good = NPYWriter.encode(try NDArray(shape: [2, 2], float64: [1, 2, 3, 4]))
        expectASTError(.format, "x.npy", "magic") { () throws(ASTError) in
            _ = try NPY.decode([0x93] + Array("NUMPX".utf8) + good.dropFirst(6), source: "x.npy")
        }
        expectASTError(.format, "too short") { () throws(ASTError) in _ = try NPY.decode(Array(good.prefix(5))) }
        expectASTError(.format, "needs 32 bytes", "has 31") { () throws(ASTError) in
            _ = try NPY.decode(Array(good.dropLast()))
        }
        expectASTError(.format, "has 33") { () throws(ASTError) in _ = try NPY.decode(good + [0]) }
        expectASTError(.format, "header claims") { () throws(ASTError) in _ = try NPY.decode(Array(good.prefix(40))) }
        expectASTError(.unsupported, "version 9") { () throws(ASTError) in
            var v9 = good
            v9[6] = 9
            _ = try NPY.decode(v9)
        }
    }

    @Test func rejectsUnsupportedLayoutsClearly() throws {
        let eight = [UInt8](repeating: 0, count: 8)
        let cases: [(String, [UInt8], ASTError.Kind, String)] = [
            ("{'descr': '>f8', 'fortran_order': False, 'shape': (1,), }", eight, .unsupported, "big-endian"),
            (
                "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 2), }", eight + eight + eight + eight,
                .unsupported, "fortran_order"
            ),
            ("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", eight, .unsupported, "object"),
            ("{'descr': '<U2', 'fortran_order': False, 'shape': (1,), }", eight, .unsupported, "unicode"),
            ("{'descr': '<f2', 'fortran_order': False, 'shape': (4,), }", eight, .unsupported, "'f2'"),
            ("{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (1,), }", eight, .unsupported, "structured"),
            ("{'descr': '<f8', 'shape': (1,), }", eight, .format, "lacks"),
            ("{'descr': '<f8', 'fortran_order': False, 'shape': (1,) ", eight, .format, "malformed"),
            ("{'descr': '<f8', 'fortran_order': maybe, 'shape': (1,), }", eight, .format, "malformed"),
            ("{'descr': '<f8', 'fortran_order': False, 'shape': (-1,), }", eight, .format, "malformed"),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999,), }", eight, .format,
                "too large"
            ),
            // 2^40 x 2^40 elements: fails on the size check, nothing is allocated.
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }", eight, .format,
                "overflows"
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776,), }", eight, .format,
                "needs 8796093022208 bytes"
            )
        ]
        for (dict, payload, kind, fragment) in cases {
            expectASTError(kind, "case.npy", fragment) { () throws(ASTError) in
                _ = try NPY.decode(npyBytes(dict: dict, payload: payload), source: "case.npy")
            }
        }
        // Fortran order of a vector is the same bytes as C order; version 2 headers and Python 2 longs parse.
        let vector = try NPY.decode(
            npyBytes(
                dict: "{'descr': '<i8', 'fortran_order': True, 'shape': (1L,), }",
                payload: [5, 0, 0, 0, 0, 0, 0, 0], version: 2))
        #expect(try vector.int64s() == [5])
    }

    @Test func unicodeArraysDecodeAsStrings() throws {
        var payload = [UInt8]()
        for s in ["ab", "ÿ€", ""] {
            var chars = Array(s.unicodeScalars.map(\.value))
            chars += [UInt32](repeating: 0, count: 3 - chars.count)
            for c in chars { appendU32(&payload, c) }
        }
        let bytes = npyBytes(dict: "{'descr': '<U3', 'fortran_order': False, 'shape': (3,), }", payload: payload)
        #expect(try NPY.decodeStrings(bytes) == ["ab", "ÿ€", ""])
        expectASTError(.format, "invalid code point") { () throws(ASTError) in
            var bad = payload
            bad[3] = 0x7F
            _ = try NPY.decodeStrings(
                npyBytes(dict: "{'descr': '<U3', 'fortran_order': False, 'shape': (3,), }", payload: bad))
        }
    }
}

extension NDArray {
    /// scalarDouble through a typed-throws function, for expectASTError.
    func dropFirstScalar() throws(ASTError) -> Double { try scalarDouble }
}

@Suite struct NPZTests {
    let a = try! NDArray(shape: [2, 3], float64: [1, 2, 3, 4, 5, 6])
    let b = try! NDArray(shape: [4], int64: [7, -8, 9, 10])
    let s = try! NDArray(shape: [], float32: [0.05])

    @Test func writerRoundTrip() throws {
        let bytes = try NPZWriter.encode([("alpha", a), ("beta", b), ("lr", s)])
        let npz = try NPZArchive(bytes: bytes)
        #expect(npz.names == ["alpha", "beta", "lr"])
        #expect(npz.contains("beta") && npz.contains("beta.npy") && !npz.contains("gamma"))
        #expect(try npz.array("alpha") == a)
        #expect(try npz.array("beta.npy") == b)
        #expect(abs(try npz.array("lr").scalarDouble - 0.05) < 1e-8)
        expectASTError(.invalidArgument, "no array named 'gamma'", "'alpha', 'beta', 'lr'") { () throws(ASTError) in
            _ = try npz.array("gamma")
        }
        expectASTError(.invalidArgument, "repeated") { () throws(ASTError) in
            _ = try NPZWriter.encode([("x", a), ("x", b)])
        }
        try withTempDirectory { dir in
            try NPZWriter.write([("alpha", a)], path: dir + "/w.npz")
            #expect(try NPZArchive(path: dir + "/w.npz").array("alpha") == a)
        }
    }

    @Test func readsStoredDeflatedAndZip64Members() throws {
        let zip = zipBytes([
            .stored("alpha.npy", NPYWriter.encode(a)),
            try .deflated("beta.npy", NPYWriter.encode(b)),
            .stored("lr.npy", NPYWriter.encode(s), zip64: true),
            .stored("notes.txt", Array("hello, this is not an array".utf8))
        ])
        let npz = try NPZArchive(bytes: zip, source: "mixed.npz")
        #expect(npz.names == ["alpha", "beta", "lr", "notes.txt"])
        #expect(try npz.array("alpha") == a)
        #expect(try npz.array("beta") == b)
        #expect(try npz.array("lr") == s)
        expectASTError(.format, "mixed.npz member 'notes.txt'", "magic") { () throws(ASTError) in
            _ = try npz.array("notes.txt")
        }
    }

    @Test func unsupportedMembersFailOnlyWhenRequested() throws {
        let objectArray = npyBytes(dict: "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", payload: [0x80, 2])
        let member = ZipMember(name: "weird.npy", method: 12, stored: [1, 2, 3], uncompressedSize: 3, crc: 0)
        let npz = try NPZArchive(
            bytes: zipBytes([.stored("obj.npy", objectArray), member, .stored("ok.npy", NPYWriter.encode(b))]),
            source: "u.npz")
        #expect(try npz.array("ok") == b)
        expectASTError(.unsupported, "u.npz member 'obj.npy'", "object") { () throws(ASTError) in
            _ = try npz.array("obj")
        }
        expectASTError(.unsupported, "method 12") { () throws(ASTError) in _ = try npz.array("weird") }
    }

    @Test func brokenArchivesThrowFormat() throws {
        let good = zipBytes([.stored("alpha.npy", NPYWriter.encode(a)), try .deflated("beta.npy", NPYWriter.encode(b))])
        expectASTError(.format, "t.npz", "end-of-central-directory") { () throws(ASTError) in
            _ = try NPZArchive(bytes: Array(good.dropLast(10)), source: "t.npz")
        }
        expectASTError(.format, "too short") { () throws(ASTError) in _ = try NPZArchive(bytes: [0x50, 0x4b]) }
        expectASTError(.format, "end-of-central-directory") { () throws(ASTError) in
            _ = try NPZArchive(bytes: patternBytes(5000))
        }
        // Cut out the middle: the directory's offset now points outside the file.
        let eocd = Array(good.suffix(22))
        expectASTError(.format, "outside") { () throws(ASTError) in
            _ = try NPZArchive(bytes: Array(good.prefix(50)) + eocd)
        }
        // Flip a data byte of the stored member: the CRC catches it.
        var flipped = good
        flipped[200] ^= 1
        let npz = try NPZArchive(bytes: flipped)
        expectASTError(.format, "CRC-32") { () throws(ASTError) in _ = try npz.array("alpha") }
        #expect(try npz.array("beta") == b)
        // A member claiming 4 GiB of output from a few bytes is refused before inflating.
        var liar = try ZipMember.deflated("big.npy", NPYWriter.encode(b))
        liar.uncompressedSize = 0xFFFF_FFF0
        expectASTError(.format, "more than deflate can produce") { () throws(ASTError) in
            _ = try NPZArchive(bytes: zipBytes([liar])).array("big")
        }
        // A member whose declared size is smaller than what it inflates to hits the cap.
        var short = try ZipMember.deflated("short.npy", NPYWriter.encode(b))
        short.uncompressedSize -= 1
        expectASTError(.outOfMemory, "cap") { () throws(ASTError) in
            _ = try NPZArchive(bytes: zipBytes([short])).array("short")
        }
        // A member claiming more data than the file holds.
        var huge = ZipMember.stored("h.npy", NPYWriter.encode(b))
        huge.uncompressedSize = 1 << 20
        huge.stored += [0]
        let hugeZip = zipBytes([huge])
        expectASTError(.format) { () throws(ASTError) in _ = try NPZArchive(bytes: hugeZip).array("h") }
        expectASTError(.io, "no such file") { () throws(ASTError) in _ = try NPZArchive(path: "/nonexistent/x.npz") }
    }

    @Test func everyTruncationOfAnArchiveFailsCleanly() throws {
        let good = zipBytes([.stored("alpha.npy", NPYWriter.encode(a)), try .deflated("beta.npy", NPYWriter.encode(b))])
        for length in stride(from: 0, to: good.count, by: 7) {
            do {
                let npz = try NPZArchive(bytes: Array(good.prefix(length)))
                for name in npz.names { _ = try? npz.array(name) }
            } catch {
                #expect(error.kind == .format)
            }
        }
    }
}

@Suite struct FixtureTests {
    @Test func fixturePathPointsAtTheCommittedFiles() {
        #expect(fixturePath("oracle_tiny.npz").hasSuffix("/Tests/ASTCoreTests/Fixtures/oracle_tiny.npz"))
        #expect(BinaryFile.exists(fixturePath("oracle_tiny.npz")))
    }

    @Test func oracleTiny() throws {
        let npz = try loadFixture("oracle_tiny")
        #expect(try npz.array("cfg").int64s() == [1, 8, 3, 8, 2, 1, 2, 3, 3, 2, 1])
        #expect(try npz.array("syn_lr").scalarDouble == 0.05)
        let realX = try npz.array("real_x")
        #expect(realX.shape == [24, 1, 8, 8] && realX.dtype == .f8)
        #expect(try npz.array("real_y").shape == [24])
        let theta = try npz.array("theta_start")
        #expect(theta.shape == [795])
        #expect(try npz.array("param_numels").int64s().reduce(0, +) == 795)
        #expect(try npz.array("syn_y").int64s() == [0, 0, 1, 1, 2, 2])
        #expect(try npz.array("expert_hp").doubles() == [0.05, 0.9, 0.0005, 8])
        #expect(try npz.array("batch_idx").int64s() == [4, 5, 1, 3, 0, 2, 5, 4, 2])
        let ce = try npz.array("out_step_ce").doubles()
        for (got, want) in zip(ce, [0.82797132, 1.18244888, 0.86313941]) { #expect(abs(got - want) < 1e-8) }
        #expect(try npz.array("chk_ce").scalarDouble == 0.8279713158998265)
        // The unicode member is tolerated: readable as strings, refused as numbers.
        let names = try npz.strings("param_names")
        #expect(names.count == 10 && names.first == "conv0.weight" && names.last == "classifier.bias")
        expectASTError(.unsupported, "param_names.npy", "unicode") { () throws(ASTError) in
            _ = try npz.array("param_names")
        }
    }

    @Test func oracleMNISTAndCIFAR() throws {
        let mnist = try loadFixture("oracle_mnist_tiny.npz")
        #expect(try mnist.array("cfg").int64s() == [1, 28, 3, 4, 3, 3, 2, 3, 4, 2, 1])
        #expect(try mnist.array("real_x").shape == [24, 1, 28, 28])
        #expect(try mnist.array("batch_idx").int64s().prefix(4) == [2, 5, -1, -1])
        #expect(try mnist.strings("param_names").count == 14)

        let cifar = try loadFixture("oracle_cifar_w32")
        #expect(try cifar.array("cfg").int64s() == [3, 32, 10, 32, 3, 1, 2, 4, 10, 2, 1])
        let realX = try cifar.array("real_x")
        #expect(realX.shape == [80, 3, 32, 32] && realX.dtype == .f4)
        #expect(realX.floats().count == 80 * 3 * 32 * 32)
        let lr = try cifar.array("syn_lr")
        #expect(lr.dtype == .f4 && lr.shape == [])
        #expect(Float(try lr.scalarDouble) == 0.01)
        #expect(try cifar.array("theta_start").shape == [24714])
        #expect(try cifar.array("param_numels").int64s().reduce(0, +) == 24714)
        #expect(try cifar.array("out_loss_f64").scalarDouble == 0.49788212922296987)
    }
}
