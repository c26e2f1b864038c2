import COpenBLAS
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The pool whose workers a forked child restarts (libast's, `Parallel`'s).
nonisolated(unsafe) private var forkedPool: Unmanaged<WorkerPool>?

/// libast's own threads: `Parallel.width − 1` workers that live as long as the process, wait
/// for a moment after each parallel region (yielding their core to anyone who needs it) and
/// then sleep on a condition variable. A region is published as one atomic word (generation,
/// parts, next unclaimed part) from which the caller and the workers claim parts, so a region
/// that follows another closely costs no wake-up through the kernel. (Dispatch's
/// concurrentPerform woke a thread for every region; an ipc-1 MTT iteration has about 5 400
/// regions of 0.4 ms.) Which part runs on which thread does not change the result: the
/// partition is fixed by `Parallel.forParts`.
final class WorkerPool: @unchecked Sendable {
    /// generation << 32 | parts << 16 | next part to claim.
    private let region = Atomic<UInt64>(0)
    /// Parts of the current region that have finished.
    private let finished = Atomic<Int>(0)
    /// Workers asleep (or about to be) on `wake`.
    private let sleepers = Atomic<Int>(0)
    /// Whether a region is running: a second caller (another host thread, or a body that
    /// itself asks for a parallel region) runs its parts inline instead.
    private let busy = Atomic<Bool>(false)
    /// The running region's body. Written by the caller only while no part is claimed; read by
    /// a worker only after it claimed a part of that region.
    private var job: ((Int) -> Void)?
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// How long an idle worker waits before it sleeps: longer than the gaps between the
    /// regions of one computation, short enough not to hold a core when libast is idle.
    private let spinSeconds = 200e-6
    /// Whether waiting threads spin at all: not when there are more threads than CPUs
    /// (AST_NUM_THREADS above the core count), where a spinning thread takes the core a thread
    /// holding a part needs (evaluation on 10 images with 4 threads on 2 cores: 43 % slower
    /// than with Dispatch when they spun, level without).
    private let spins: Bool
    private let workers: Int
    /// Set in a forked child: its workers did not survive the fork; the next region starts new ones.
    private let respawn = Atomic<Bool>(false)

    /// A pool of `workers` threads. With `restartAfterFork`, a child process made by fork()
    /// gets fresh locks and its own workers (one such pool per process: libast's).
    init(workers: Int, restartAfterFork: Bool = false) {
        self.workers = workers
        spins = workers + 1 <= max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        startWorkers()
        if restartAfterFork {
            forkedPool = Unmanaged.passRetained(self)
            pthread_atfork(nil, nil) { forkedPool?.takeUnretainedValue().resetInForkedChild() }
        }
    }

    private func startWorkers() {
        for _ in 0..<workers {
            var thread = pthread_t()
            let context = Unmanaged.passRetained(self).toOpaque()
            let created = pthread_create(
                &thread, nil,
                { context in
                    Unmanaged<WorkerPool>.fromOpaque(context!).takeRetainedValue().workerLoop()
                    return nil
                }, context)
            if created == 0 {
                pthread_detach(thread)
            } else {
                // No thread: the callers do every part themselves.
                Unmanaged<WorkerPool>.fromOpaque(context).release()
            }
        }
    }

    /// body(p) for p in 0..<parts, spread over the caller and the workers; returns when all ran.
    func run(parts: Int, _ body: (Int) -> Void) {
        precondition(parts > 0 && parts < 1 << 16)
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            for p in 0..<parts { body(p) }
            return
        }
        if respawn.load(ordering: .relaxed) {
            respawn.store(false, ordering: .relaxed)
            startWorkers()
        }
        withoutActuallyEscaping(body) { body in
            job = body
            finished.store(0, ordering: .relaxed)
            let generation = ((region.load(ordering: .relaxed) >> 32) &+ 1) & 0xffff_ffff
            region.store(generation << 32 | UInt64(parts) << 16, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                pthread_mutex_lock(mutex)
                pthread_cond_broadcast(wake)
                pthread_mutex_unlock(mutex)
            }
            claimParts(of: generation)
            var waited = 0
            while finished.load(ordering: .acquiring) < parts {
                waited += 1
                // A worker holding a part may have lost its core (a busy machine): let it run.
                if !spins || waited & 15 == 0 { sched_yield() } else { ast_cpu_relax() }
            }
            job = nil
        }
        busy.store(false, ordering: .releasing)
    }

    /// Claims and runs parts of region `generation` until none is left (or a newer region began).
    private func claimParts(of generation: UInt64) {
        var word = region.load(ordering: .acquiring)
        while word >> 32 == generation {
            let (parts, next) = ((word >> 16) & 0xffff, word & 0xffff)
            if next >= parts { return }
            let (claimed, current) = region.compareExchange(
                expected: word, desired: word + 1, ordering: .acquiringAndReleasing)
            if claimed {
                runPart(Int(next))
                finished.add(1, ordering: .releasing)
                word = region.load(ordering: .acquiring)
            } else {
                word = current
            }
        }
    }

    /// Runs part p of the current region (a function of its own, so the worker's reference to
    /// the body is released before the part is counted as finished).
    @inline(never)
    private func runPart(_ p: Int) {
        job!(p)
    }

    private func workerLoop() {
        var seen = region.load(ordering: .acquiring) >> 32
        while true {
            var generation = region.load(ordering: .acquiring) >> 32
            let start = monotonicSeconds()
            var waited = 0
            while generation == seen {
                waited += 1
                if !spins || (waited & 15 == 0 && monotonicSeconds() - start > spinSeconds) {
                    sleep(while: seen)
                } else {
                    // Yielding, not pausing: on a machine busy with other work the core goes
                    // to whoever needs it, at the price of a system call, not a wake-up.
                    sched_yield()
                }
                generation = region.load(ordering: .acquiring) >> 32
            }
            seen = generation
            claimParts(of: generation)
        }
    }

    /// In the child after fork(): only the forking thread exists there, so the locks may be
    /// held by threads that are gone and no worker is left. Fresh locks and counters; workers
    /// are started by the next region (not here: a child that only calls exec needs none).
    private func resetInForkedChild() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        sleepers.store(0, ordering: .relaxed)
        finished.store(0, ordering: .relaxed)
        busy.store(false, ordering: .relaxed)
        job = nil
        respawn.store(true, ordering: .relaxed)
    }

    /// Sleeps until a region newer than `seen` is published.
    private func sleep(while seen: UInt64) {
        pthread_mutex_lock(mutex)
        sleepers.add(1, ordering: .sequentiallyConsistent)
        while region.load(ordering: .sequentiallyConsistent) >> 32 == seen {
            pthread_cond_wait(wake, mutex)
        }
        sleepers.subtract(1, ordering: .sequentiallyConsistent)
        pthread_mutex_unlock(mutex)
    }
}
