// Fixtures: locating the committed oracle .npz files from the source tree, without Foundation bundles.

import ASTData

/// Path of `Tests/ASTCoreTests/Fixtures/<name>`, found from this source file's own location so it
/// works from any working directory and needs no resource bundle.
public func fixturePath(_ name: String) -> String {
    // #filePath inside the body is this file (as a default argument it would be the caller's).
    let file: String = #filePath
    var parts = file.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
    // .../Tests/TestSupport/Fixtures.swift -> .../Tests
    parts.removeLast(min(2, parts.count))
    return (parts + ["ASTCoreTests", "Fixtures", name]).joined(separator: "/")
}

/// Opens the fixture archive `name` (`"oracle_tiny"` or `"oracle_tiny.npz"`).
public func loadFixture(_ name: String) throws -> NPZArchive {
    try NPZArchive(path: fixturePath(name.hasSuffix(".npz") ? name : name + ".npz"))
}
