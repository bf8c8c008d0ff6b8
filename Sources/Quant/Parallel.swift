// Parallel: a throwing loop over the shared ThreadPool, propagating the first error thrown.

import Foundation

public enum Parallel {
    /// Runs `body(w)` for w in 0..<count concurrently; rethrows the first error any of them threw.
    public static func run(_ count: Int, _ body: (Int) throws -> Void) throws {
        if count <= 1 {
            if count == 1 { try body(0) }
            return
        }
        let failure = FirstError()
        ThreadPool.shared.run(count) { w in
            do { try body(w) } catch { failure.record(error) }
        }
        if let e = failure.error { throw e }
    }
}

/// Hands a value to concurrently running closures that only read it (or write disjoint parts).
public struct UncheckedBox<T>: @unchecked Sendable {
    public let value: T
    public init(_ v: T) { value = v }
}

/// The first error recorded by any thread.
final class FirstError: @unchecked Sendable {
    private let lock = NSLock()
    private var first: Error?
    func record(_ e: Error) { lock.lock(); if first == nil { first = e }; lock.unlock() }
    var error: Error? { lock.lock(); defer { lock.unlock() }; return first }
}
