// ReliabilityTests: what a crash or a hostile disk leaves behind must not take a later run down.
// (The kill-and-restart loop over the real CLI is scripts/crash-test.sh; these are the in-process
// pieces of the same guarantees.)

import Testing
@testable import ASTCore
@testable import ASTDistill
import ASTData
#if canImport(Glibc)
import Glibc
#endif

@Suite struct CrashLeftovers {
    /// A SIGKILL during an atomic write leaves `.<name>.tmp.XXXXXX` next to the final files; the
    /// store must ignore it, and resuming must still reproduce the uninterrupted run.
    @Test func leftoverTemporaryFilesAreIgnored() throws {
        let (c, data) = try tinyRun()
        let pipeline = try Pipeline(config: c, outputDirectory: temporaryDirectory("leftovers"))
        let full = try pipeline.generateExperts(data: data)
        for name in [".expert_00001.safetensors.tmp.Ab12Cd", ".expert_00002.partial.safetensors.tmp.Xy34Zw"] {
            try writeFileAtomically(path: pipeline.storeDirectory + "/" + name, bytes: Array("torn".utf8))
        }
        try writeFileAtomically(path: pipeline.outputDirectory + "/.checkpoint.safetensors.tmp.Qq99Rr", bytes: [0, 1])
        let reopened = try TrajectoryStore(readingFrom: pipeline.storeDirectory, network: pipeline.network)
        #expect(reopened.completeExperts == full.completeExperts)
        #expect(try pipeline.loadCheckpoint() == nil)
        let again = try pipeline.generateExperts(data: data)
        #expect(try again.snapshots(expert: 1, epochs: [0, 3]) == full.snapshots(expert: 1, epochs: [0, 3]))
    }

    /// A checkpoint cut at any length (what a non-atomic writer or a bad disk could leave) is an
    /// ASTError naming the file, never a trap.
    @Test func truncatedCheckpointIsAnError() throws {
        let (c, data) = try tinyRun()
        let pipeline = try Pipeline(config: c, outputDirectory: temporaryDirectory("torn-checkpoint"))
        _ = try pipeline.generateExperts(data: data)
        let state = try pipeline.distill(data: data)
        let whole = try BinaryFile.read(pipeline.checkpointPath)
        #expect(try pipeline.loadCheckpoint()?.images == state.images)
        for length in stride(from: 0, to: whole.count, by: max(1, whole.count / 97)) {
            try writeFileAtomically(path: pipeline.checkpointPath, bytes: Array(whole.prefix(length)))
            #expect(throws: ASTError.self, "checkpoint cut at \(length) of \(whole.count) bytes") {
                _ = try pipeline.loadCheckpoint()
            }
        }
    }

    /// An expert file cut short is rejected with a message naming it; the complete ones still load.
    @Test func truncatedExpertFileNamesTheFile() throws {
        let (c, data) = try tinyRun()
        let pipeline = try Pipeline(config: c, outputDirectory: temporaryDirectory("torn-expert"))
        _ = try pipeline.generateExperts(data: data)
        let path = pipeline.storeDirectory + "/expert_00001.safetensors"
        let whole = try BinaryFile.read(path)
        try writeFileAtomically(path: path, bytes: Array(whole.prefix(whole.count - 5)))
        do throws(ASTError) {
            _ = try TrajectoryStore(readingFrom: pipeline.storeDirectory, network: pipeline.network)
            Issue.record("a truncated expert file was accepted")
        } catch {
            #expect(error.message.contains("expert_00001.safetensors"), "\(error.message)")
        }
    }

    /// Output that cannot be written (the output directory is a regular file: refused for any
    /// user, root included) fails with `.io` naming the path; the experts already written stay.
    @Test func unwritableOutputIsAClearError() throws {
        let (c, data) = try tinyRun()
        let dir = temporaryDirectory("unwritable")
        let pipeline = try Pipeline(config: c, outputDirectory: dir)
        _ = try pipeline.generateExperts(data: data)
        let before = try BinaryFile.read(pipeline.storeDirectory + "/expert_00000.safetensors")
        try writeFileAtomically(path: dir + "/blocker", bytes: [0])
        let blocked = try Pipeline(config: c, outputDirectory: dir + "/blocker")
        do throws(ASTError) {
            try blocked.saveCheckpoint(try pipeline.distill(data: data))
            Issue.record("saving under a regular file succeeded")
        } catch {
            #expect(error.kind == .io)
            #expect(error.message.contains(dir + "/blocker"), "\(error.message)")
        }
        #expect(try BinaryFile.read(pipeline.storeDirectory + "/expert_00000.safetensors") == before)
    }
}
