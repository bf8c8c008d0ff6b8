// Learning-rate schedule: linear warmup from 0, then cosine decay to minLR at the last step (nanoGPT's shape).
// Steps are numbered 1...steps (the update about to be applied):
//   step ≤ warmup:  lr · step / warmup
//   after:          minLR + ½(1 + cos(π·(step − warmup)/(steps − warmup)))·(lr − minLR)   (= minLR at step == steps)
// Defaults: warmup = min(100, steps / 10), minLR = lr / 10.

import Foundation

public struct LRSchedule: Codable, Equatable, Sendable {
    public var maxLR: Float
    public var minLR: Float
    public var warmup: Int
    public var steps: Int

    public init(maxLR: Float, steps: Int, warmup: Int? = nil, minLR: Float? = nil) {
        self.maxLR = maxLR
        self.steps = steps
        self.warmup = max(0, warmup ?? min(100, steps / 10))
        self.minLR = minLR ?? maxLR / 10
    }

    /// The learning rate of update number `step` (1...steps; clamped outside).
    public func lr(at step: Int) -> Float {
        let s = min(max(step, 1), max(steps, 1))
        if s <= warmup { return maxLR * Float(s) / Float(warmup) }
        let span = steps - warmup
        guard span > 0 else { return maxLR }
        let progress = Double(s - warmup) / Double(span)
        return minLR + Float(0.5 * (1 + cos(Double.pi * progress))) * (maxLR - minLR)
    }
}
