import Dispatch
import Synchronization
import Testing
@testable import ASTCore
#if canImport(Glibc)
import Glibc
#endif

/// libast's worker pool: every part of every region runs exactly once, whether the workers
/// take parts, a body asks for a nested region (run inline), or several host threads call at
/// once (the second caller runs inline); results do not depend on which thread ran a part.
@Suite struct WorkerPoolRegions {
    /// A pool of its own (three workers), so the tests do not depend on `Parallel.width`.
    static let pool = WorkerPool(workers: 3)

    @Test func everyPartRunsOnceOverManyRegions() {
        let slots = UnsafeMutablePointer<Int>.allocate(capacity: 64)
        defer { slots.deallocate() }
        for round in 0..<5_000 {
            let parts = 1 + round % 9
            slots.initialize(repeating: 0, count: parts)
            Self.pool.run(parts: parts) { p in slots[p] += 1 }
            #expect((0..<parts).allSatisfy { slots[$0] == 1 }, "round \(round): \((0..<parts).map { slots[$0] })")
        }
    }

    @Test func workersTakeParts() {
        // Parts long enough (≈ 50 µs) that a spinning worker claims some of them.
        let caller = pthread_self()
        let offCaller = Atomic<Int>(0)
        for _ in 0..<500 {
            Self.pool.run(parts: 4) { _ in
                let start = monotonicSeconds()
                while monotonicSeconds() - start < 50e-6 {}
                if pthread_equal(pthread_self(), caller) == 0 { offCaller.add(1, ordering: .relaxed) }
            }
        }
        #expect(offCaller.load(ordering: .relaxed) > 0, "no part ran on a worker in 500 regions")
    }

    @Test func sleepingWorkersWakeForTheNextRegion() {
        // 1 ms between regions: longer than the workers spin, so they sleep and are woken.
        let caller = pthread_self()
        let offCaller = Atomic<Int>(0), ran = Atomic<Int>(0)
        for _ in 0..<100 {
            usleep(1_000)
            Self.pool.run(parts: 4) { _ in
                let start = monotonicSeconds()
                while monotonicSeconds() - start < 100e-6 {}
                ran.add(1, ordering: .relaxed)
                if pthread_equal(pthread_self(), caller) == 0 { offCaller.add(1, ordering: .relaxed) }
            }
        }
        #expect(ran.load(ordering: .relaxed) == 400)
        #expect(offCaller.load(ordering: .relaxed) > 0, "no woken worker took a part in 100 regions")
    }

    @Test func nestedRegionRunsInline() {
        let outer = 4, inner = 5
        let slots = UnsafeMutablePointer<Int>.allocate(capacity: outer * inner)
        slots.initialize(repeating: 0, count: outer * inner)
        defer { slots.deallocate() }
        Self.pool.run(parts: outer) { p in
            Self.pool.run(parts: inner) { q in slots[p * inner + q] += 1 }
        }
        #expect((0..<(outer * inner)).allSatisfy { slots[$0] == 1 })
    }

    @Test func concurrentCallersEachGetAllTheirParts() {
        let callers = 4, rounds = 300, parts = 6
        nonisolated(unsafe) let slots = UnsafeMutablePointer<Int>.allocate(capacity: callers * parts)
        slots.initialize(repeating: 0, count: callers * parts)
        defer { slots.deallocate() }
        DispatchQueue.concurrentPerform(iterations: callers) { c in
            for _ in 0..<rounds {
                Self.pool.run(parts: parts) { p in slots[c * parts + p] += 1 }
            }
        }
        #expect((0..<(callers * parts)).allSatisfy { slots[$0] == rounds })
    }

    @Test func sumsAreTheSameWhateverThreadRunsAPart() {
        // Per-part partial sums combined in part order: the same bits on every run.
        let values = (0..<10_000).map { Float(($0 * 7919) % 1000) * 1e-3 + 1e-7 }
        func total() -> Float {
            var partial = [Float](repeating: 0, count: 8)
            partial.withUnsafeMutableBufferPointer { out in
                let base = out.baseAddress!
                Self.pool.run(parts: 8) { p in
                    var s: Float = 0
                    for i in (values.count * p / 8)..<(values.count * (p + 1) / 8) { s += values[i] }
                    base[p] = s
                }
            }
            return partial.reduce(0, +)
        }
        let first = total()
        for _ in 0..<200 { #expect(total().bitPattern == first.bitPattern) }
    }
}
