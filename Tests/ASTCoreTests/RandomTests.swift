import Testing
@testable import ASTCore

/// The bulk normal draws are the one-by-one draws: same values, generator left in the same place.
@Suite struct SeededGeneratorDraws {
    /// Sizes below and above the parallel split (4096 a worker), and not multiples of it.
    static let counts = [1, 7, 4095, 8192, 100_003]

    @Test(arguments: counts) func fillNormalsIsNextNormalInBulk(count: Int) {
        var one = SeededGenerator(seed: 42), bulk = SeededGenerator(seed: 42)
        let expected = (0..<count).map { _ in Float(one.nextNormal()) }
        let filled = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            bulk.fillNormals(buffer)
            initialized = count
        }
        #expect(filled.map(\.bitPattern) == expected.map(\.bitPattern))
        #expect(bulk.next() == one.next(), "the generators went on from different states")
    }

    @Test(arguments: counts) func skipNormalsAdvancesAsNextNormal(count: Int) {
        var drawn = SeededGenerator(seed: 7), skipped = SeededGenerator(seed: 7)
        for _ in 0..<count { _ = drawn.nextNormal() }
        skipped.skipNormals(count)
        #expect((0..<4).map { _ in skipped.next() } == (0..<4).map { _ in drawn.next() })
    }

    @Test func emptyFillLeavesTheGenerator() {
        var a = SeededGenerator(seed: 3), b = SeededGenerator(seed: 3)
        a.fillNormals(UnsafeMutableBufferPointer(start: nil, count: 0))
        a.skipNormals(0)
        #expect(a.next() == b.next())
    }
}
