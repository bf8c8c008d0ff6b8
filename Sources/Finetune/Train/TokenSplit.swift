// TokenSplit: a tokenized corpus cut by position into a training part and a validation part, and the two ways
// the trainer reads windows out of it. The rule is fixed (the PyTorch benchmark implements the same one):
//
//   tokens t[0..<n];  trainCount = ⌊9n/10⌋ (the first 90%),  valCount = n − trainCount (the last 10%)
//   training batch:   for each of `rows` rows in order, s = rng.below(trainCount − T);
//                     inputs t[s..<s+T], targets t[s+1...s+T]                       (rows × T, row-major)
//   validation:       the val stream v = t[trainCount..<n]; windows at 0, T, 2T, … — the first
//                     min(maxWindows, ⌊(valCount − 1)/T⌋) of them; inputs v[w..<w+T], targets v[w+1...w+T]
//
// A training window never reads a validation token (s + T ≤ trainCount − 1 + 1 … the last target is at most
// t[trainCount − 1]).

public struct TokenSplit: Sendable {
    public let tokens: [Int32]
    public let trainCount: Int
    public var valCount: Int { tokens.count - trainCount }

    /// Splits `tokens` and checks that both parts hold at least one window of `context` tokens (+1 target).
    public init(tokens: [Int32], context: Int, file: String) throws {
        self.tokens = tokens
        trainCount = tokens.count * 9 / 10
        guard context > 0 else { throw FinetuneError.config("context must be positive, not \(context)") }
        guard !tokens.isEmpty else { throw FinetuneError.data(file: file, message: "no tokens (the file is empty)") }
        guard trainCount > context else {
            throw FinetuneError.data(file: file, message: "\(tokens.count) tokens: the training part (90%, \(trainCount) tokens) is shorter than one window of --context \(context) + 1")
        }
        guard (valCount - 1) / context >= 1 else {
            throw FinetuneError.data(file: file, message: "\(tokens.count) tokens: the validation part (10%, \(valCount) tokens) is shorter than one window of --context \(context) + 1; use more text or a smaller --context")
        }
    }

    /// One training batch of `rows` random windows of `length` tokens (the starts drawn from `rng` in row order).
    public func batch(rows: Int, length: Int, rng: inout TrainRNG) -> (inputs: [Int32], targets: [Int32]) {
        precondition(trainCount > length)
        var inputs = [Int32](repeating: 0, count: rows * length)
        var targets = [Int32](repeating: 0, count: rows * length)
        tokens.withUnsafeBufferPointer { t in
            for r in 0..<rows {
                let s = rng.below(trainCount - length)
                for i in 0..<length {
                    inputs[r * length + i] = t[s + i]
                    targets[r * length + i] = t[s + i + 1]
                }
            }
        }
        return (inputs, targets)
    }

    /// Number of validation windows of `length` tokens evaluated (at most `maxWindows`).
    public func validationWindowCount(length: Int, maxWindows: Int) -> Int {
        min(maxWindows, (valCount - 1) / length)
    }

    /// Validation windows `first..<first+count` (offsets 0, T, 2T, … into the validation stream), row-major.
    public func validationBatch(first: Int, count: Int, length: Int) -> (inputs: [Int32], targets: [Int32]) {
        var inputs = [Int32](repeating: 0, count: count * length)
        var targets = [Int32](repeating: 0, count: count * length)
        for r in 0..<count {
            let s = trainCount + (first + r) * length
            for i in 0..<length {
                inputs[r * length + i] = tokens[s + i]
                targets[r * length + i] = tokens[s + i + 1]
            }
        }
        return (inputs, targets)
    }

    /// The validation text's first tokens (for default sample prompts).
    public var validationTokens: ArraySlice<Int32> { tokens[trainCount...] }
}
