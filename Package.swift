// swift-tools-version: 6.1
import PackageDescription

// libast: dataset distillation by AST (trajectory matching) on OpenBLAS, as a Swift package,
// a C library (libast.so + include/ast.h) and a Python binding (bindings/python).
let package = Package(
    name: "libast",
    products: [
        // "ast" -> .build/<config>/libast.so. Ship it built with
        // `swift build -c release --product ast -Xswiftc -static-stdlib` (see README).
        .library(name: "ast", type: .dynamic, targets: ["ASTCAPI"]),
        .library(name: "ASTCore", targets: ["ASTCore"]),
        .library(name: "ASTData", targets: ["ASTData"]),
        .library(name: "ASTDistill", targets: ["ASTDistill"]),
        .executable(name: "ast-bench", targets: ["ast-bench"]),
        .executable(name: "ast-distill", targets: ["ast-distill"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
    ],
    targets: [
        // OpenBLAS (cblas + LAPACK) through pkg-config.
        .systemLibrary(
            name: "COpenBLAS", path: "Sources/COpenBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        // zlib for .gz IDX files and deflated .npz members.
        .systemLibrary(
            name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),
        // The hand-written C contract, imported so the exports are checked against it.
        .systemLibrary(name: "CAst", path: "include"),

        // Tensors, kernels, autodiff, the ConvNet. No C ABI, no file I/O.
        .target(name: "ASTCore", dependencies: ["COpenBLAS"]),
        // Labelled image sets and the file formats they come in and go out as.
        .target(name: "ASTData", dependencies: ["ASTCore", "CZlib"]),
        // Augmentation, whitening, experts, distillation, evaluation: the AST pipeline.
        .target(name: "ASTDistill", dependencies: ["ASTCore", "ASTData", "COpenBLAS"]),
        // The only module with C entry points -> libast.so.
        .target(
            name: "ASTCAPI",
            dependencies: ["ASTCore", "ASTData", "ASTDistill", "CAst"],
            exclude: ["exports.map"],
            linkerSettings: [
                .unsafeFlags(
                    [
                        "-Xlinker", "-soname=libast.so",
                        "-Xlinker", "-z", "-Xlinker", "nodelete",
                        "-Xlinker", "--version-script=\(Context.packageDirectory)/Sources/ASTCAPI/exports.map"
                    ], .when(platforms: [.linux]))
            ]
        ),
        .executableTarget(name: "ast-bench", dependencies: ["ASTCore", "ASTData", "ASTDistill"]),
        // The command-line tool: the main job.
        .executableTarget(
            name: "ast-distill",
            dependencies: [
                "ASTDistill", "ASTData", .product(name: "ArgumentParser", package: "swift-argument-parser")
            ]),
        // A tiny program using the engine from Swift directly (run by scripts/test.sh).
        .executableTarget(name: "ast-swift-example", dependencies: ["ASTCore"], path: "examples/swift"),

        .target(name: "TestSupport", dependencies: ["ASTCore", "ASTData"], path: "Tests/TestSupport"),
        .testTarget(
            name: "ASTCoreTests", dependencies: ["ASTCore", "ASTData", "TestSupport"],
            exclude: ["Fixtures"]),
        .testTarget(name: "ASTDataTests", dependencies: ["ASTData", "TestSupport"]),
        .testTarget(name: "ASTDistillTests", dependencies: ["ASTDistill", "TestSupport"]),
        .testTarget(name: "ASTCAPITests", dependencies: ["ASTCAPI", "ASTDistill", "CAst", "TestSupport"])
    ],
    swiftLanguageModes: [.v6]
)
