// RobustnessTests: every decoder fed mutated and truncated bytes must throw ASTError, never trap.

import ASTCore
@testable import ASTData
import Testing

@Suite struct RobustnessTests {
    /// `count` mutants of `seed`: random byte flips, truncations and header-byte overwrites.
    func mutants(of seed: [UInt8], count: Int, rngSeed: UInt64) -> [[UInt8]] {
        var rng = SeededGenerator(seed: rngSeed)
        return (0..<count).map { i in
            var m = seed
            switch i % 3 {
            case 0:
                for _ in 0..<(1 + rng.nextInt(below: 4)) {
                    m[rng.nextInt(below: m.count)] = UInt8(truncatingIfNeeded: rng.next())
                }
            case 1:
                m = Array(m.prefix(rng.nextInt(below: m.count)))
            default:
                // Overwrite within the first 64 bytes, where the headers live, with extreme values.
                let at = rng.nextInt(below: min(64, m.count))
                m[at] = [0x00, 0xFF, 0x7F, 0x80][rng.nextInt(below: 4)]
            }
            return m
        }
    }

    @Test func decodersNeverTrap() throws {
        let array = try NDArray(shape: [3, 5], float64: (0..<15).map(Double.init))
        let npy = NPYWriter.encode(array)
        let npz = zipBytes([.stored("a.npy", npy), try .deflated("b.npy", npy)])
        let idx = idxBytes([2, 3, 4], patternBytes(24))
        let gz = try gzipCompress(idx)
        var accepted = 0
        for m in mutants(of: npy, count: 300, rngSeed: 1) {
            if (try? NPY.decode(m)) != nil { accepted += 1 }
        }
        for m in mutants(of: npz, count: 300, rngSeed: 2) {
            if let archive = try? NPZArchive(bytes: m) {
                for name in archive.names where (try? archive.array(name)) != nil { accepted += 1 }
            }
        }
        for m in mutants(of: idx, count: 300, rngSeed: 3) {
            if (try? IDX.decode(m)) != nil { accepted += 1 }
        }
        for m in mutants(of: gz, count: 300, rngSeed: 4) {
            if let out = try? inflateGzip(m, maxOutput: 1 << 20), (try? IDX.decode(out)) != nil { accepted += 1 }
        }
        // Flips inside payloads are legitimately accepted; the point is that nothing trapped.
        #expect(accepted < 1200)
    }
}
