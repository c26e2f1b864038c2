// The objects behind the opaque C handles. C holds a +1 Unmanaged reference to one of these
// boxes; `*_free` releases it. A box that needs another box keeps a strong reference to it,
// so handles can be freed in any order.

#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Base class of every handle: owns the handle's last-error message.
class HandleBox {
    /// Address of the strdup'ed message of the last failed call on this handle (0: none),
    /// kept as an integer so the mutex holds a Sendable value. Guarded by a mutex because
    /// immutable handles (datasets, networks) may be used from several threads at once.
    private let message = Mutex<UInt>(0)

    class var staticTypeName: StaticString { "handle" }
    var typeName: StaticString { Self.staticTypeName }

    init() {}

    deinit {
        message.withLock { free(UnsafeMutableRawPointer(bitPattern: $0)) }
    }

    func setLastError(_ text: String) {
        let copy = UInt(bitPattern: strdup(text))
        message.withLock { current in
            free(UnsafeMutableRawPointer(bitPattern: current))
            current = copy
        }
    }

    /// Valid until the next failure on this handle or its release (documented in ast.h).
    var lastError: UnsafePointer<CChar>? {
        UnsafePointer(bitPattern: message.withLock { $0 })
    }
}

/// NUL-terminated copies of strings that live as long as their owner (names, fingerprints).
final class CStringTable {
    /// nil only if strdup ran out of memory; read as "" then.
    private let pointers: [UnsafeMutablePointer<CChar>?]

    init(_ strings: [String]) {
        pointers = strings.map { strdup($0) }
    }

    deinit {
        for p in pointers { free(p) }
    }

    var count: Int { pointers.count }

    /// `i` must be in 0..<count (callers validate C indices first).
    subscript(i: Int) -> UnsafePointer<CChar> {
        pointers[i].map { UnsafePointer($0) } ?? staticCString(emptyCString)
    }
}
