#if canImport(Glibc)
import Glibc
#endif

/// Recycles tensor buffers by exact byte size. Training and distillation allocate the same
/// shapes every step; reusing freed buffers avoids mmap/munmap and the kernel zeroing fresh
/// pages (what costs PyTorch a third of its CPU time here). Bounded: free buffers are kept only
/// while live + cached bytes stay within the work's own peak of live bytes plus
/// `BufferPool.limitBytes`, so a job's peak memory is at most its live peak plus that slack
/// (cached buffers of other sizes are returned to make room).
public enum BufferPool {
    struct State {
        var free: [Int: [UInt]] = [:]  // byte size -> buffer addresses (plain integers: Sendable)
        var cachedBytes = 0
        var liveBytes = 0  // pooled-size buffers handed out and not yet released
        var peakLiveBytes = 0
        var limitBytes = 256 << 20
        var allowance: Int { limitBytes == 0 ? 0 : limitBytes + peakLiveBytes }
    }
    static let state = PoolLock(State())
    /// Buffers smaller than this go straight to malloc (its own bins are fast there).
    static let minimumPooledBytes = 1 << 16

    /// Slack above the work's peak of live bytes that cached buffers may use; 0 disables
    /// pooling. Default 256 MiB.
    public static var limitBytes: Int {
        get { state.withLock { $0.limitBytes } }
        set {
            let released: [UInt] = state.withLock { s in
                s.limitBytes = max(0, newValue)
                return s.limitBytes == 0 ? s.drain() : []
            }
            released.forEach { free(UnsafeMutableRawPointer(bitPattern: $0)) }
        }
    }

    /// One consistent reading of the pool's counters; `live` counts pooled-size buffers
    /// (≥ 64 KiB) in use.
    package static var statistics: (live: Int, cached: Int, peakLive: Int, limit: Int) {
        state.withLock { ($0.liveBytes, $0.cachedBytes, $0.peakLiveBytes, $0.limitBytes) }
    }

    /// Bytes currently cached for reuse.
    public static var cachedBytes: Int { state.withLock { $0.cachedBytes } }

    /// Returns every cached buffer to the system and forgets the peak (a long-lived host can
    /// call this after a big job).
    public static func trim() {
        state.withLock { s in
            s.peakLiveBytes = s.liveBytes
            return s.drain()
        }.forEach { free(UnsafeMutableRawPointer(bitPattern: $0)) }
    }

    static func allocate(bytes: Int) -> UnsafeMutableRawPointer {
        guard bytes >= minimumPooledBytes else { return mallocOrDie(bytes) }
        let (hit, evicted): (UInt?, [UInt]) = state.withLock { s in
            s.liveBytes += bytes
            s.peakLiveBytes = max(s.peakLiveBytes, s.liveBytes)
            if let a = s.free[bytes]?.popLast() {
                s.cachedBytes -= bytes
                return (a, [])
            }
            return (nil, s.evict(toFit: s.allowance - s.liveBytes))
        }
        evicted.forEach { free(UnsafeMutableRawPointer(bitPattern: $0)) }
        if let hit, let p = UnsafeMutableRawPointer(bitPattern: hit) { return p }
        return mallocOrDie(bytes)
    }

    static func release(_ p: UnsafeMutableRawPointer, bytes: Int) {
        if bytes >= minimumPooledBytes {
            let address = UInt(bitPattern: p)
            let kept = state.withLock { s -> Bool in
                s.liveBytes -= bytes
                guard s.cachedBytes + bytes + s.liveBytes <= s.allowance else { return false }
                s.free[bytes, default: []].append(address)
                s.cachedBytes += bytes
                return true
            }
            if kept { return }
        }
        free(p)
    }

    private static func mallocOrDie(_ bytes: Int) -> UnsafeMutableRawPointer {
        guard let p = malloc(max(bytes, 16)) else {
            // Out of memory: nothing sensible can continue; Swift's own allocator would trap too.
            fatalError("libast: out of memory allocating \(bytes) bytes")
        }
        return p
    }
}

extension BufferPool.State {
    mutating func drain() -> [UInt] {
        defer { free = [:]; cachedBytes = 0 }
        return free.values.flatMap { $0 }
    }

    /// Removes cached buffers (largest sizes first) until at most `budget` bytes stay cached.
    mutating func evict(toFit budget: Int) -> [UInt] {
        guard cachedBytes > max(budget, 0) else { return [] }
        var out: [UInt] = []
        for size in free.keys.sorted(by: >) where cachedBytes > max(budget, 0) {
            while cachedBytes > max(budget, 0), let a = free[size]?.popLast() {
                out.append(a)
                cachedBytes -= size
            }
            if free[size]?.isEmpty == true { free[size] = nil }
        }
        return out
    }
}

/// A pthread mutex around the pool's state. Not `Synchronization.Mutex`: its futex fast path is
/// invisible to ThreadSanitizer (uninstrumented atomics), which then reports every concurrent
/// allocation from libast's workers as a race; pthread locks are intercepted and understood.
final class PoolLock<Value>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
