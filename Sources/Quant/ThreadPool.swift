// ThreadPool: the kernels' shared pool of worker threads. A call hands out task indices to the workers
// and the calling thread alike and returns when all are done. Workers spin briefly between calls (a
// decode step issues hundreds of small matrix-vector products back to back; waking sleeping threads
// for each would cost more than the product) and then sleep, so an idle process uses no CPU.
// One call at a time: concurrent callers queue on a lock; a call from inside a task runs inline.

import CKernels
import Foundation
import Synchronization

public final class ThreadPool: @unchecked Sendable {
    /// One pool for the process, one thread per core (the caller counts as one).
    public static let shared = ThreadPool(threads: ProcessInfo.processInfo.activeProcessorCount)

    /// Threads that run tasks, including the caller.
    public let size: Int

    private let generation = Atomic<Int>(0)
    private let nextTask = Atomic<Int>(0)
    private let busyWorkers = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let callLock = NSLock()
    private let wake = NSCondition()
    private var taskCount = 0
    private var body: ((Int) -> Void)? = nil
    /// Spin iterations before a worker goes to sleep (roughly 50–200 µs).
    private let spinLimit = 20_000

    public init(threads: Int) {
        size = max(1, threads)
        for w in 1..<size {
            let t = Thread {  // workers keep the pool alive: pools live as long as the process
                setThreadName("llmkit-worker-\(w)")
                self.worker(w)
            }
            t.stackSize = 1 << 20
            t.start()
        }
    }

    /// Runs `task(i)` for every i in 0..<count, spread over the pool; returns when all have finished.
    public func run(_ count: Int, _ task: (Int) -> Void) {
        guard count > 0 else { return }
        if count == 1 || size == 1 || ThreadPool.insideTask {
            for i in 0..<count { task(i) }
            return
        }
        callLock.lock()
        defer { callLock.unlock() }
        withoutActuallyEscaping(task) { task in
            body = task
            taskCount = count
            nextTask.store(0, ordering: .relaxed)
            busyWorkers.store(size - 1, ordering: .relaxed)
            generation.add(1, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                wake.lock(); wake.broadcast(); wake.unlock()
            }
            drain(task)
            while busyWorkers.load(ordering: .acquiring) > 0 { spinPause() }
            body = nil
        }
    }

    /// Splits 0..<n into `parts` contiguous ranges (parts ≤ size is typical) and runs them on the pool.
    public func run(ranges n: Int, parts: Int? = nil, _ task: (Range<Int>) -> Void) {
        let p = max(1, min(parts ?? size, n))
        run(p) { k in task((k * n / p)..<((k + 1) * n / p)) }
    }

    private func drain(_ task: (Int) -> Void) {
        ThreadPool.insideTask = true
        defer { ThreadPool.insideTask = false }
        while true {
            let i = nextTask.add(1, ordering: .relaxed).oldValue
            if i >= taskCount { return }
            task(i)
        }
    }

    @inline(never)
    private func drainCurrent() {
        if let body { drain(body) }
    }

    private func worker(_ w: Int) -> Never {
        var seen = 0
        while true {
            var spins = 0
            while generation.load(ordering: .acquiring) == seen {
                spins += 1
                if spins < spinLimit { spinPause(); continue }
                wake.lock()
                sleepers.add(1, ordering: .sequentiallyConsistent)
                while generation.load(ordering: .sequentiallyConsistent) == seen { wake.wait() }
                sleepers.subtract(1, ordering: .relaxed)
                wake.unlock()
                spins = 0
            }
            seen = generation.load(ordering: .acquiring)
            drainCurrent()  // every reference to the task is gone when this returns
            busyWorkers.subtract(1, ordering: .releasing)
        }
    }

    private static let insideTaskKey: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k, nil)
        return k
    }()

    /// Whether this thread is running a pool task (then nested calls run inline instead of deadlocking).
    private static var insideTask: Bool {
        get { pthread_getspecific(insideTaskKey) != nil }
        set { pthread_setspecific(insideTaskKey, newValue ? UnsafeRawPointer(bitPattern: 1) : nil) }
    }
}

@inline(__always)
func spinPause() { llk_pause() }

/// Names the calling thread as `top`, `perf` and /proc/PID/task/*/comm show it (Linux keeps 15 bytes).
/// Foundation's Thread.name does not reach the OS thread on Linux.
public func setThreadName(_ name: String) { llk_set_thread_name(name) }
