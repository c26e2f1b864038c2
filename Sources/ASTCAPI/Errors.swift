// Error plumbing of the C API: statuses, the thread-local last-error message, and the entry
// helpers every export goes through (they turn thrown failures into status + messages, so no
// Swift error ever reaches C).

import ASTCore
import CAst
#if canImport(Glibc)
import Glibc
#endif

/// Status codes as `ast_status` (the header's anonymous enum imports as `Int`).
enum Status {
    static let ok = ast_status(AST_OK)
    static let invalidArgument = ast_status(AST_ERR_INVALID_ARGUMENT)
    static let shapeMismatch = ast_status(AST_ERR_SHAPE_MISMATCH)
    static let nonFinite = ast_status(AST_ERR_NON_FINITE)
    static let io = ast_status(AST_ERR_IO)
    static let format = ast_status(AST_ERR_FORMAT)
    static let cancelled = ast_status(AST_ERR_CANCELLED)
    static let diverged = ast_status(AST_ERR_DIVERGED)
    static let outOfMemory = ast_status(AST_ERR_OUT_OF_MEMORY)
    static let unsupported = ast_status(AST_ERR_UNSUPPORTED)
    static let nullPointer = ast_status(AST_ERR_NULL_POINTER)
    static let unknownKey = ast_status(AST_ERR_UNKNOWN_KEY)
    static let outOfRange = ast_status(AST_ERR_OUT_OF_RANGE)
    static let wrongType = ast_status(AST_ERR_WRONG_TYPE)
    static let `internal` = ast_status(AST_ERR_INTERNAL)
}

/// A failure on its way out to C: a status and a message that names the function and argument.
struct CFailure: Error {
    let status: ast_status
    let message: String

    init(_ status: ast_status, _ message: String) {
        self.status = status
        self.message = message
    }

    /// An engine error, prefixed with the exported function's name. `ASTError.Kind` raw values
    /// are the header's status values (checked by ASTCAPITests).
    init(_ error: ASTError, in function: StaticString) {
        self.status = error.kind.rawValue
        self.message = "\(function): \(error.message)"
    }
}

// MARK: - Thread-local last error (ast_last_error)

/// Key of the per-thread message; the destructor frees a thread's message when it exits.
/// The library is linked with `-z nodelete`, so the destructor is never unmapped.
private let lastErrorKey: pthread_key_t = {
    var key = pthread_key_t()
    let rc = pthread_key_create(&key) { pointer in free(pointer) }
    // Only fails when the process is out of keys (PTHREAD_KEYS_MAX = 1024); libast cannot
    // report errors without it, and this runs once per process.
    precondition(rc == 0, "libast: pthread_key_create failed")
    return key
}()

/// "" with static storage, returned when no message exists.
let emptyCString: StaticString = ""

func staticCString(_ s: StaticString) -> UnsafePointer<CChar> {
    UnsafeRawPointer(s.utf8Start).assumingMemoryBound(to: CChar.self)
}

func setThreadError(_ message: String) {
    let copy = strdup(message)  // NULL if out of memory: ast_last_error then returns ""
    free(pthread_getspecific(lastErrorKey))
    pthread_setspecific(lastErrorKey, copy)
}

func threadError() -> UnsafePointer<CChar> {
    guard let p = pthread_getspecific(lastErrorKey) else { return staticCString(emptyCString) }
    return UnsafePointer(p.assumingMemoryBound(to: CChar.self))
}

// MARK: - Entry helpers

/// Runs the body of an export that has no handle; failures set the thread-local message.
func entry(_ body: () throws(CFailure) -> Void) -> ast_status {
    do {
        try body()
        return Status.ok
    } catch {
        setThreadError(error.message)
        return error.status
    }
}

/// Resolves a handle argument: NULL and handles of another type are failures naming `argument`.
func unbox<Box: HandleBox>(
    _ handle: OpaquePointer?, as type: Box.Type, function: StaticString,
    argument: StaticString
) throws(CFailure) -> Box {
    guard let handle else {
        throw CFailure(Status.nullPointer, "\(function): \(argument) is NULL")
    }
    let object = Unmanaged<HandleBox>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
    guard let box = object as? Box else {
        throw CFailure(
            Status.invalidArgument,
            "\(function): \(argument) is an \(object.typeName) handle, not an \(Box.staticTypeName)")
    }
    return box
}

/// Runs the body of an export on a handle; failures set the handle's and the thread's message.
func entry<Box: HandleBox>(
    _ function: StaticString, _ handle: OpaquePointer?, as type: Box.Type,
    argument: StaticString,
    _ body: (Box) throws(CFailure) -> Void
) -> ast_status {
    let box: Box
    do {
        box = try unbox(handle, as: type, function: function, argument: argument)
    } catch {
        setThreadError(error.message)
        return error.status
    }
    do {
        try body(box)
        return Status.ok
    } catch {
        box.setLastError(error.message)
        setThreadError(error.message)
        return error.status
    }
}

/// Hands a new box to C as a +1 reference.
func retainedHandle(_ box: HandleBox) -> OpaquePointer {
    OpaquePointer(Unmanaged.passRetained(box).toOpaque())
}

/// Releases a handle given to C by `retainedHandle`; NULL is a no-op.
func releaseHandle(_ handle: OpaquePointer?) {
    guard let handle else { return }
    Unmanaged<HandleBox>.fromOpaque(UnsafeRawPointer(handle)).release()
}

/// The handle's last-error text, or a static message for a NULL handle.
func handleLastError<Box: HandleBox>(
    _ handle: OpaquePointer?, as type: Box.Type,
    nullMessage: StaticString
) -> UnsafePointer<CChar> {
    guard let handle else { return staticCString(nullMessage) }
    let object = Unmanaged<HandleBox>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
    return object.lastError ?? staticCString(emptyCString)
}

// MARK: - Exports

@c @implementation
public func ast_last_error() -> UnsafePointer<CChar>! {
    threadError()
}

@c @implementation
public func ast_status_string(_ status: ast_status) -> UnsafePointer<CChar>! {
    let text: StaticString
    switch status {
    case Status.ok: text = "ok"
    case Status.invalidArgument: text = "invalid argument"
    case Status.shapeMismatch: text = "shape mismatch"
    case Status.nonFinite: text = "non-finite value"
    case Status.io: text = "i/o error"
    case Status.format: text = "format error"
    case Status.cancelled: text = "cancelled"
    case Status.diverged: text = "diverged"
    case Status.outOfMemory: text = "out of memory"
    case Status.unsupported: text = "unsupported"
    case Status.nullPointer: text = "null pointer"
    case Status.unknownKey: text = "unknown key"
    case Status.outOfRange: text = "out of range"
    case Status.wrongType: text = "wrong type"
    case Status.internal: text = "internal error"
    default: text = "unknown status"
    }
    return staticCString(text)
}
