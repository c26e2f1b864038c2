#if canImport(Glibc)
import Glibc
#endif

/// A seeded, reproducible random generator (xoshiro256**, seeded through SplitMix64).
/// Every random draw in libast comes from one of these, owned by the caller.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    public init(seed: UInt64) {
        var x = seed
        func splitMix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitMix(); s1 = splitMix(); s2 = splitMix(); s3 = splitMix()
    }

    public mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = (s3 << 45) | (s3 >> 19)
        return result
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func nextUniform() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// Standard normal (Box–Muller; one draw per call, reproducible).
    public mutating func nextNormal() -> Double {
        let (u1, u2) = nextUniformPair()
        return Self.boxMuller(u1, u2)
    }

    /// Writes the values of `out.count` calls of `nextNormal` (as Float), leaving the generator
    /// where those calls would: the raw draws (a few cheap integer operations each) are made
    /// here in order, the logarithms and cosines on libast's workers (the same bits as one by one).
    public mutating func fillNormals(_ out: UnsafeMutableBufferPointer<Float>) {
        let count = out.count
        guard count > 0, let base = out.baseAddress else { return }
        let uniforms = UnsafeMutablePointer<Double>.allocate(capacity: 2 * count)
        defer { uniforms.deallocate() }
        for i in 0..<count { (uniforms[2 * i], uniforms[2 * i + 1]) = nextUniformPair() }
        Parallel.forRanges(count, minimumPerThread: 4096) { range in
            for i in range { base[i] = Float(Self.boxMuller(uniforms[2 * i], uniforms[2 * i + 1])) }
        }
    }

    /// Advances the generator as `count` calls of `nextNormal` would, without computing them.
    public mutating func skipNormals(_ count: Int) {
        for _ in 0..<max(0, count) { _ = nextUniformPair() }
    }

    /// The two uniforms one `nextNormal` consumes: u1 in (0, 1) (drawn again at 0), u2 in [0, 1).
    private mutating func nextUniformPair() -> (Double, Double) {
        var u1 = nextUniform()
        while u1 <= 0 { u1 = nextUniform() }
        return (u1, nextUniform())
    }

    private static func boxMuller(_ u1: Double, _ u2: Double) -> Double {
        (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }

    /// Uniform integer in 0..<bound (bound > 0), unbiased.
    public mutating func nextInt(below bound: Int) -> Int {
        Int(next(upperBound: UInt64(bound)))
    }

    /// A uniformly random permutation of 0..<n (Fisher–Yates).
    public mutating func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        if n > 1 {
            for i in stride(from: n - 1, to: 0, by: -1) {
                p.swapAt(i, nextInt(below: i + 1))
            }
        }
        return p
    }
}
