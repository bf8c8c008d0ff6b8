// Shared plumbing of the training ops: the buffer type, the fixed split of rows into parallel chunks, and an arena
// that owns a model's activation buffers.
//
// Determinism: every parallel op splits its work into a number of chunks that depends only on the sizes (never on
// the thread count or timing), each chunk writes disjoint outputs or its own partial sums, and partials are added
// in chunk order. So the same inputs give bit-identical results with 1 or many threads.

import Foundation
import Quant

public typealias FloatPointer = UnsafeMutablePointer<Float>

enum Chunks {
    /// The most chunks any op splits into (partial-sum scratch is sized for this many).
    static let max = 16
    /// Chunks for `n` rows: one per 128 rows, between 1 and `max`.
    static func count(_ n: Int) -> Int { Swift.max(1, Swift.min(max, n / 128)) }
    /// Rows of chunk `k` of `parts` over 0..<n.
    @inline(__always) static func range(_ k: Int, _ parts: Int, _ n: Int) -> Range<Int> { (k * n / parts)..<((k + 1) * n / parts) }
}

/// Owns F32 buffers (zeroed on allocation) and frees them together.
final class Arena {
    private var blocks: [UnsafeMutableBufferPointer<Float>] = []
    private(set) var bytes = 0

    func floats(_ count: Int) -> FloatPointer {
        let b = UnsafeMutableBufferPointer<Float>.allocate(capacity: Swift.max(count, 1))
        b.initialize(repeating: 0)
        blocks.append(b)
        bytes += b.count * 4
        return b.baseAddress!
    }

    func reset() {
        for b in blocks { b.deallocate() }
        blocks.removeAll()
        bytes = 0
    }

    deinit { reset() }
}

/// Wall time per op family, collected when a model's `profile` is set (the `dev train-step --bench` breakdown).
public final class OpProfile: @unchecked Sendable {
    public enum Family: Int, CaseIterable, Sendable {
        case embedding, norm, linear, attention, activation, dropout, loss
        public var name: String { ["embedding", "norm", "linear", "attention", "activation", "dropout", "loss"][rawValue] }
    }
    /// Seconds, [family][0 = forward, 1 = backward].
    public private(set) var seconds = [[Double]](repeating: [0, 0], count: Family.allCases.count)

    public init() {}

    public func reset() { seconds = [[Double]](repeating: [0, 0], count: Family.allCases.count) }

    @inline(__always) func time<R>(_ f: Family, backward: Bool, _ body: () throws -> R) rethrows -> R {
        let t0 = DispatchTime.now().uptimeNanoseconds
        defer { seconds[f.rawValue][backward ? 1 : 0] += Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9 }
        return try body()
    }
}

extension Optional where Wrapped == OpProfile {
    @inline(__always) func time<R>(_ f: OpProfile.Family, backward: Bool = false, _ body: () throws -> R) rethrows -> R {
        if let p = self { return try p.time(f, backward: backward, body) }
        return try body()
    }
}
