/// The one error type of libast. `kind` maps onto the C status codes of include/ast.h;
/// `message` names the argument, tensor or file and what was wrong with it.
public struct ASTError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: Int32, Sendable {
        case invalidArgument = 1
        case shapeMismatch = 2
        case nonFinite = 3
        case io = 4
        case format = 5
        case cancelled = 6
        case diverged = 7
        case outOfMemory = 8
        case unsupported = 9
        case `internal` = 99
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    public static func invalid(_ message: String) -> ASTError { ASTError(.invalidArgument, message) }
    public static func shape(_ message: String) -> ASTError { ASTError(.shapeMismatch, message) }
}

/// `local.withValue(value) { body() }` keeping body's typed error (`TaskLocal.withValue` rethrows
/// it untyped).
package func withTaskLocal<V: Sendable, R>(
    _ local: TaskLocal<V>, _ value: V, _ body: () throws(ASTError) -> R
) throws(ASTError) -> R {
    try local.withValue(value) { Result(catching: body) }.get()
}
