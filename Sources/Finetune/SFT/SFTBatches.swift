// SFTBatches: tokenized examples → training rows → padded batches, for `llmkit finetune`.
//
//   example   prompt + response tokens, truncated to maxSeq + 1 (one more than a row's positions: the targets are
//             the tokens shifted by one). An example whose response is truncated away entirely is dropped (counted).
//             Text records (continued pretraining) are not truncated but cut into consecutive examples of maxSeq + 1
//             tokens overlapping by one, so every token of the text is a target exactly once.
//   labels    per token: the token itself where it is scored as a target, −1 on prompt tokens (unless
//             trainOnPrompt). The row's inputs are tokens[0..<n−1], its targets labels[1..<n].
//   rows      one example per row; or with packing, the epoch's examples (in shuffled order) concatenated into one
//             stream cut into rows of maxSeq + 1 tokens overlapping by one (TRL's basic packing: attention crosses
//             example boundaries — a row's later examples see the earlier ones as context; no per-example masks).
//   batch     `batch` rows padded on the right to the longest row (pad input 0, target −1), so a batch of short
//             examples costs only its own length, as HF's padding collator does.
// An epoch's order of examples is a Fisher–Yates permutation drawn from the run's TrainRNG when the epoch starts.

/// One tokenized training example.
public struct SFTExample: Equatable, Sendable {
    public var tokens: [Int32]
    /// How many of `tokens` are prompt (not scored unless training on the prompt).
    public var promptCount: Int
    public init(tokens: [Int32], promptCount: Int) { self.tokens = tokens; self.promptCount = promptCount }

    /// Per token: itself where scored as a target, −1 where not.
    public func labels(trainOnPrompt: Bool) -> [Int32] {
        trainOnPrompt ? tokens : tokens.indices.map { $0 < promptCount ? -1 : tokens[$0] }
    }
}

/// A row: tokens and their labels (same length, ≥ 2).
public struct SFTRow: Equatable, Sendable {
    public var tokens: [Int32]
    public var labels: [Int32]
    /// Positions of the row (inputs).
    public var length: Int { tokens.count - 1 }
    /// Targets scored.
    public var scored: Int { labels.dropFirst().reduce(0) { $0 + ($1 >= 0 ? 1 : 0) } }
}

/// A padded batch ready for TrainableModel.forwardBackward.
public struct SFTBatch: Equatable, Sendable {
    /// [batch, length] row-major.
    public var inputs: [Int32]
    /// [batch, length], −1 where not scored (prompt, padding).
    public var targets: [Int32]
    public var batch: Int
    public var length: Int
    /// Targets ≥ 0.
    public var scored: Int
    /// Input positions that are not padding.
    public var tokens: Int
}

public enum SFTBatches {
    /// Examples from rendered (prompt, response) pairs: truncated to maxSeq + 1 tokens; examples with no response
    /// token left are dropped and counted.
    public static func examples(_ rendered: [(prompt: [Int32], response: [Int32])], maxSeq: Int) -> (examples: [SFTExample], dropped: Int) {
        precondition(maxSeq > 0)
        var out: [SFTExample] = []
        var dropped = 0
        for (prompt, response) in rendered {
            guard !response.isEmpty else { dropped += 1; continue }
            let all = Array((prompt + response).prefix(maxSeq + 1))
            guard all.count > prompt.count, all.count >= 2 else { dropped += 1; continue }
            out.append(SFTExample(tokens: all, promptCount: prompt.count))
        }
        return (out, dropped)
    }

    /// A text record's tokens (after its prompt, usually BOS or nothing) cut into examples of maxSeq + 1 tokens
    /// that overlap by one; a piece of a single token is not an example.
    public static func textExamples(prompt: [Int32], text: [Int32], maxSeq: Int) -> [SFTExample] {
        precondition(maxSeq > 0)
        let all = prompt + text
        var out: [SFTExample] = []
        var start = 0
        while start < all.count - 1 {
            let end = min(all.count, start + maxSeq + 1)
            out.append(SFTExample(tokens: Array(all[start..<end]), promptCount: max(0, prompt.count - start)))
            start += maxSeq
        }
        return out
    }

    /// Renders, tokenizes and truncates every record.
    public static func examples(_ records: [SFTRecord], prompt: SFTPrompt, maxSeq: Int) throws -> (examples: [SFTExample], dropped: Int) {
        var out: [SFTExample] = []
        var pairs: [(prompt: [Int32], response: [Int32])] = []
        for r in records {
            let (p, resp) = try prompt.render(r)
            if case .text = r.content {
                out += textExamples(prompt: p, text: resp, maxSeq: maxSeq)
            } else {
                pairs.append((p, resp))
            }
        }
        let (ex, dropped) = examples(pairs, maxSeq: maxSeq)
        return (out + ex, dropped)
    }

    /// A permutation of 0..<count drawn from `rng` (Fisher–Yates from the back).
    public static func shuffled(count: Int, rng: inout TrainRNG) -> [Int] {
        var order = Array(0..<count)
        if count > 1 {
            for i in stride(from: count - 1, to: 0, by: -1) { order.swapAt(i, rng.below(i + 1)) }
        }
        return order
    }

    /// The rows of one epoch: examples in `order`, one per row or packed.
    public static func rows(_ examples: [SFTExample], order: [Int], maxSeq: Int, packing: Bool, trainOnPrompt: Bool) -> [SFTRow] {
        if !packing {
            return order.map { SFTRow(tokens: examples[$0].tokens, labels: examples[$0].labels(trainOnPrompt: trainOnPrompt)) }
        }
        var tokens: [Int32] = [], labels: [Int32] = []
        for i in order {
            tokens += examples[i].tokens
            labels += examples[i].labels(trainOnPrompt: trainOnPrompt)
        }
        var out: [SFTRow] = []
        var start = 0
        while start < tokens.count - 1 {
            let end = min(tokens.count, start + maxSeq + 1)
            out.append(SFTRow(tokens: Array(tokens[start..<end]), labels: Array(labels[start..<end])))
            start += maxSeq
        }
        return out
    }

    /// Rows per epoch (the same every epoch: packing cuts the same number of tokens whatever the order).
    public static func rowCount(_ examples: [SFTExample], maxSeq: Int, packing: Bool) -> Int {
        guard packing else { return examples.count }
        let total = examples.reduce(0) { $0 + $1.tokens.count }
        return total <= 1 ? 0 : (total - 2) / maxSeq + 1
    }

    /// Rows padded on the right to the longest.
    public static func batch(_ rows: ArraySlice<SFTRow>) -> SFTBatch {
        precondition(!rows.isEmpty)
        let T = rows.map(\.length).max()!
        let B = rows.count
        var inputs = [Int32](repeating: 0, count: B * T)
        var targets = [Int32](repeating: -1, count: B * T)
        var scored = 0, tokens = 0
        for (b, row) in rows.enumerated() {
            for t in 0..<row.length {
                inputs[b * T + t] = row.tokens[t]
                targets[b * T + t] = row.labels[t + 1]
                if row.labels[t + 1] >= 0 { scored += 1 }
            }
            tokens += row.length
        }
        return SFTBatch(inputs: inputs, targets: targets, batch: B, length: T, scored: scored, tokens: tokens)
    }
}
