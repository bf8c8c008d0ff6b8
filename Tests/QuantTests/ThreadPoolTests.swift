// The kernel thread pool: every task runs exactly once, calls nest and overlap safely, and a pool that
// went to sleep wakes up again.
import Foundation
import Synchronization
import Testing
@testable import Quant

@Suite struct ThreadPoolTests {
    @Test func everyTaskRunsOnce() {
        let pool = ThreadPool(threads: 3)
        for count in [1, 2, 3, 7, 64, 1000] {
            let hits = UnsafeMutableBufferPointer<Int>.allocate(capacity: count)
            hits.initialize(repeating: 0)
            defer { hits.deallocate() }
            let box = UncheckedBox(hits)
            for _ in 0..<50 { pool.run(count) { box.value[$0] += 1 } }
            #expect(hits.allSatisfy { $0 == 50 }, "count \(count)")
        }
    }

    @Test func rangesCoverEverything() {
        let pool = ThreadPool(threads: 2)
        let total = Atomic<Int>(0)
        pool.run(ranges: 1001) { r in total.add(r.reduce(0, +), ordering: .relaxed) }
        #expect(total.load(ordering: .relaxed) == 1001 * 1000 / 2)
    }

    @Test func nestedCallsRunInlineAndConcurrentCallersQueue() {
        let pool = ThreadPool(threads: 2)
        let total = Atomic<Int>(0)
        pool.run(4) { _ in pool.run(5) { _ in total.add(1, ordering: .relaxed) } }
        #expect(total.load(ordering: .relaxed) == 20)
        let other = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            for _ in 0..<20 { pool.run(8) { _ in other.add(1, ordering: .relaxed) } }
        }
        #expect(other.load(ordering: .relaxed) == 4 * 20 * 8)
    }

    @Test func wakesAfterSleeping() throws {
        let pool = ThreadPool(threads: 2)
        let total = Atomic<Int>(0)
        pool.run(2) { _ in total.add(1, ordering: .relaxed) }
        Thread.sleep(forTimeInterval: 0.05)  // long enough for the workers to stop spinning and sleep
        pool.run(100) { _ in total.add(1, ordering: .relaxed) }
        #expect(total.load(ordering: .relaxed) == 102)
    }

    /// Many short calls through a throwing wrapper (as Parallel.run does): no task reference may outlive a call.
    @Test func shortCallsThroughAThrowingWrapper() throws {
        let pool = ThreadPool(threads: 2)
        func wrapper(_ count: Int, _ body: (Int) throws -> Void) rethrows {
            pool.run(count) { w in do { try body(w) } catch {} }
        }
        let total = Atomic<Int>(0)
        for i in 0..<3000 {
            try wrapper(1 + i % 3) { w in
                var a = [Float](repeating: 0, count: 64)
                a[w] = 1
                total.add(Int(a[w]), ordering: .relaxed)
            }
        }
        #expect(total.load(ordering: .relaxed) == (0..<3000).reduce(0) { $0 + 1 + $1 % 3 })
    }
}
