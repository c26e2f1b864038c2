// swift-tools-version: 6.1
import PackageDescription

// ast-distill-mpi: the distillation and expert generation of ast-distill spread over MPI ranks
// (Open MPI). A separate package so that libast, ast-distill and the README commands never
// need MPI. Build (from the repository root):
//
//     apt-get install libopenmpi-dev openmpi-bin
//     swift build -c release --package-path mpi --product ast-distill-mpi
//
// -> mpi/.build/release/ast-distill-mpi; run it with `mpirun -np P` or `srun` (README "MPI").
let package = Package(
    name: "ast-distill-mpi",
    products: [
        .executable(name: "ast-distill-mpi", targets: ["ast-distill-mpi"])
    ],
    dependencies: [
        .package(name: "libast", path: "..")
    ],
    targets: [
        // Open MPI's C API through pkg-config (ompi-c), with getters for its predefined handles.
        .systemLibrary(
            name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev"])]),
        .executableTarget(
            name: "ast-distill-mpi",
            dependencies: [
                "CMPI",
                .product(name: "ASTCore", package: "libast"),
                .product(name: "ASTData", package: "libast"),
                .product(name: "ASTDistill", package: "libast")
            ])
    ],
    swiftLanguageModes: [.v6]
)
