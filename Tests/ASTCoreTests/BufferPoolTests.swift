import Testing
@testable import ASTCore

/// The buffer cache's bound: live + cached bytes never exceed the live peak plus the slack
/// (`limitBytes`), whatever the order of allocations and releases. Checked after every
/// operation; other tests allocate concurrently, which the invariant must survive too.
@Suite struct BufferPoolBound {
    @Test func cacheStaysWithinLivePeakPlusSlack() {
        // A small slack makes the bound bite (the default 256 MiB would hide an unbounded cache).
        let savedLimit = BufferPool.limitBytes
        BufferPool.limitBytes = 1 << 20
        defer { BufferPool.limitBytes = savedLimit }
        var rng = SeededGenerator(seed: 42)
        var held: [(UnsafeMutableRawPointer, Int)] = []
        func check(_ when: String) {
            let s = BufferPool.statistics
            #expect(
                s.live + s.cached <= s.peakLive + s.limit,
                "\(when): live \(s.live) + cached \(s.cached) > peak \(s.peakLive) + limit \(s.limit)")
            #expect(s.cached >= 0 && s.live >= 0)
        }
        for round in 0..<400 {
            if held.isEmpty || rng.next() % 3 != 0 {
                // 64 KiB … 8 MiB in a few distinct sizes, so cached buffers of other sizes pile up.
                let bytes = (1 << 16) * (1 + Int(rng.next() % 8)) * (1 + Int(rng.next() % 16))
                let p = BufferPool.allocate(bytes: bytes)
                p.storeBytes(of: UInt8(round & 0xff), as: UInt8.self)  // the memory is usable
                held.append((p, bytes))
            } else {
                let (p, bytes) = held.remove(at: Int(rng.next() % UInt64(held.count)))
                BufferPool.release(p, bytes: bytes)
            }
            check("after operation \(round)")
        }
        for (p, bytes) in held { BufferPool.release(p, bytes: bytes) }
        check("after releasing everything")
    }
}
