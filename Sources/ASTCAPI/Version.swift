// Version and ABI functions.

import CAst

/// Must equal AST_VERSION_STRING in include/ast.h (checked by ASTCAPITests).
private let versionString: StaticString = "0.2.0"

@c @implementation
public func ast_version_number() -> Int32 {
    Int32(AST_VERSION_MAJOR * 10000 + AST_VERSION_MINOR * 100 + AST_VERSION_PATCH)
}

@c @implementation
public func ast_version_string() -> UnsafePointer<CChar>! {
    staticCString(versionString)
}

@c @implementation
public func ast_abi_version() -> Int32 {
    Int32(AST_ABI_VERSION)
}
