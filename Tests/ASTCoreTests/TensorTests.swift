import Testing
@testable import ASTCore

@Suite struct TensorBasics {
    @Test func reshapeRejectsWrongCount() throws {
        let t = try Tensor<Float>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        #expect(throws: ASTError.self) { try t.reshaped([4, 2]) }
        #expect(try t.reshaped([3, -1]).shape == [3, 2])
    }
}
