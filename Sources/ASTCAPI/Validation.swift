// Checks on C arguments, run before any Swift code that could trap sees them. Each failure
// names the exported function and the argument.

import ASTCore
import CAst

/// Largest number of floats in one tensor the C API accepts (2^31 - 1: BLAS `blasint` limit,
/// and keeps a single buffer below 8 GiB).
let maxElements = Int(Int32.max)

/// Argument checks for one exported function.
struct Arguments {
    let function: StaticString

    init(_ function: StaticString) {
        self.function = function
    }

    func fail(_ status: ast_status, _ text: String) -> CFailure {
        CFailure(status, "\(function): \(text)")
    }

    /// A required pointer.
    func required<P>(_ pointer: P?, _ name: StaticString) throws(CFailure) -> P {
        guard let pointer else { throw fail(Status.nullPointer, "\(name) is NULL") }
        return pointer
    }

    /// An integer that must lie in `range` (status `invalidArgument` unless given).
    func integer(
        _ value: Int64, _ name: StaticString, in range: ClosedRange<Int64>,
        status: ast_status = Status.invalidArgument
    ) throws(CFailure) -> Int {
        guard range.contains(value) else {
            throw fail(status, "\(name) must be in \(range.lowerBound)...\(range.upperBound), got \(value)")
        }
        return Int(value)
    }

    /// Product of validated non-negative sizes, failing (out of memory) above `maxElements`.
    func product(_ factors: [Int], _ what: String) throws(CFailure) -> Int {
        var total = 1
        for f in factors {
            let (p, overflow) = total.multipliedReportingOverflow(by: f)
            guard !overflow, p <= maxElements else {
                throw fail(
                    Status.outOfMemory,
                    "\(what) = \(factors.map(String.init).joined(separator: "*")) exceeds \(maxElements) elements")
            }
            total = p
        }
        return total
    }

    /// An input length that must equal `expected`.
    func inputLength(
        _ length: Int64, _ name: StaticString, equals expected: Int,
        _ expectation: String
    ) throws(CFailure) {
        guard length == Int64(expected) else {
            throw fail(Status.shapeMismatch, "\(name) is \(length) but \(expectation) is \(expected)")
        }
    }

    /// An output capacity that must be at least `needed`.
    func outputLength(
        _ length: Int64, _ name: StaticString, atLeast needed: Int,
        _ expectation: String
    ) throws(CFailure) {
        guard length >= Int64(needed) else {
            throw fail(Status.shapeMismatch, "\(name) is \(length) but \(expectation) needs \(needed)")
        }
    }

    /// Copies `count` floats from C, failing on the first NaN/Inf.
    func finiteFloats(
        _ pointer: UnsafePointer<Float>, count: Int,
        _ name: StaticString
    ) throws(CFailure) -> [Float] {
        let buffer = UnsafeBufferPointer(start: pointer, count: count)
        for i in 0..<count where !buffer[i].isFinite {
            throw fail(Status.nonFinite, "\(name)[\(i)] is \(buffer[i]) (must be finite)")
        }
        return Array(buffer)
    }

    /// Copies `count` int32 labels from C, failing on the first one outside [0, classes).
    func labels(
        _ pointer: UnsafePointer<Int32>, count: Int, classes: Int,
        _ name: StaticString
    ) throws(CFailure) -> [Int32] {
        let buffer = UnsafeBufferPointer(start: pointer, count: count)
        for i in 0..<count where buffer[i] < 0 || Int(buffer[i]) >= classes {
            throw fail(
                Status.invalidArgument,
                "\(name)[\(i)] is \(buffer[i]), outside [0, \(classes)) (classes = \(classes))")
        }
        return Array(buffer)
    }

    /// Copies `count` int64 labels from C, failing on the first one outside [0, classes).
    func labels(
        _ pointer: UnsafePointer<Int64>, count: Int, classes: Int,
        _ name: StaticString
    ) throws(CFailure) -> [Int32] {
        let buffer = UnsafeBufferPointer(start: pointer, count: count)
        var out = [Int32](repeating: 0, count: count)
        for i in 0..<count {
            guard buffer[i] >= 0, buffer[i] < Int64(classes) else {
                throw fail(
                    Status.invalidArgument,
                    "\(name)[\(i)] is \(buffer[i]), outside [0, \(classes)) (classes = \(classes))")
            }
            out[i] = Int32(buffer[i])
        }
        return out
    }

    /// Writes an engine result to a C output buffer (capacity already validated). A NaN or Inf
    /// in it (finite inputs whose computation overflowed float32, e.g. images of 1e30) is
    /// AST_ERR_NON_FINITE and nothing is written: no call hands NaN back as a success.
    func write(
        _ values: [Float], to out: UnsafeMutablePointer<Float>, expected: Int,
        _ name: StaticString
    ) throws(CFailure) {
        guard values.count == expected else {
            throw fail(Status.internal, "engine returned \(values.count) values for \(name), expected \(expected)")
        }
        if let i = values.firstIndex(where: { !$0.isFinite }) {
            throw fail(
                Status.nonFinite,
                "\(name)[\(i)] came out as \(values[i]): the computation overflowed float32; inputs of this magnitude "
                    + "cannot be used"
            )
        }
        values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { out.update(from: base, count: expected) }
        }
    }

    /// Maps an engine error to a failure of this function.
    func engine(_ error: ASTError) -> CFailure { CFailure(error, in: function) }
}
