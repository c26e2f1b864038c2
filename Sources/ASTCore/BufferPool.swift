import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Recycles tensor buffers by exact byte size. Training and distillation allocate the same
/// shapes every step; reusing freed buffers avoids mmap/munmap and the kernel zeroing fresh
/// pages (what costs PyTorch a third of its CPU time here). Bounded: buffers beyond
/// `BufferPool.limitBytes` of cached memory are returned to the system.
public enum BufferPool {
    struct State {
        var free: [Int: [UInt]] = [:]  // byte size -> buffer addresses (plain integers: Sendable)
        var cachedBytes = 0
        var limitBytes = 256 << 20
    }
    static let state = Mutex(State())
    /// Buffers smaller than this go straight to malloc (its own bins are fast there).
    static let minimumPooledBytes = 1 << 16

    /// Upper bound on cached (free, reusable) memory; 0 disables pooling. Default 256 MiB.
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

    /// Bytes currently cached for reuse.
    public static var cachedBytes: Int { state.withLock { $0.cachedBytes } }

    /// Returns every cached buffer to the system.
    public static func trim() {
        state.withLock { $0.drain() }.forEach { free(UnsafeMutableRawPointer(bitPattern: $0)) }
    }

    static func allocate(bytes: Int) -> UnsafeMutableRawPointer {
        if bytes >= minimumPooledBytes,
           let address = state.withLock({ s -> UInt? in
               guard let a = s.free[bytes]?.popLast() else { return nil }
               s.cachedBytes -= bytes
               return a
           }), let p = UnsafeMutableRawPointer(bitPattern: address) {
            return p
        }
        guard let p = malloc(max(bytes, 16)) else {
            // Out of memory: nothing sensible can continue; Swift's own allocator would trap too.
            fatalError("libast: out of memory allocating \(bytes) bytes")
        }
        return p
    }

    static func release(_ p: UnsafeMutableRawPointer, bytes: Int) {
        if bytes >= minimumPooledBytes {
            let address = UInt(bitPattern: p)
            let kept = state.withLock { s -> Bool in
                guard s.cachedBytes + bytes <= s.limitBytes else { return false }
                s.free[bytes, default: []].append(address)
                s.cachedBytes += bytes
                return true
            }
            if kept { return }
        }
        free(p)
    }
}

extension BufferPool.State {
    mutating func drain() -> [UInt] {
        defer { free = [:]; cachedBytes = 0 }
        return free.values.flatMap { $0 }
    }
}
