// Sampler: picks the next token from logits, with llama.cpp's sampler chain and order
//   penalties (repeat / frequency / presence over the last repeat_last_n tokens) → top_k → typical_p → top_p →
//   min_p → temperature → softmax → a draw from a seeded generator.
// Temperature ≤ 0 is greedy: the largest logit after penalties (ties: the lowest id). Same seed, same logits →
// same tokens. Defaults are Ollama's.
import Foundation

public struct SamplingOptions: Sendable, Equatable {
    public var temperature: Float = 0.8
    public var topK: Int = 40
    public var topP: Float = 0.9
    public var minP: Float = 0.0
    public var typicalP: Float = 1.0
    public var repeatLastN: Int = 64
    public var repeatPenalty: Float = 1.1
    public var presencePenalty: Float = 0
    public var frequencyPenalty: Float = 0
    /// nil: a random seed.
    public var seed: UInt64? = nil

    public init() {}

    /// Greedy decoding, no penalties.
    public static var greedy: SamplingOptions {
        var o = SamplingOptions()
        o.temperature = 0
        o.repeatPenalty = 1
        return o
    }

    /// A clear error for values no sampler can use.
    public func validate() throws {
        func bad(_ m: String) -> InferError { .invalidRequest(m) }
        guard temperature.isFinite else { throw bad("temperature must be a finite number") }
        guard topP.isFinite, topP >= 0 else { throw bad("top_p must be between 0 and 1") }
        guard minP.isFinite, minP >= 0, minP <= 1 else { throw bad("min_p must be between 0 and 1") }
        guard typicalP.isFinite, typicalP >= 0 else { throw bad("typical_p must be between 0 and 1") }
        guard repeatPenalty.isFinite, repeatPenalty >= 0 else { throw bad("repeat_penalty must be a non-negative number") }
        guard presencePenalty.isFinite, frequencyPenalty.isFinite else { throw bad("penalties must be finite numbers") }
        guard repeatLastN >= -1 else { throw bad("repeat_last_n must be -1, 0 or positive") }
    }
}

/// xoshiro256** seeded through SplitMix64: small, fast, and the same sequence on every platform.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var x = seed
        func splitmix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (splitmix(), splitmix(), splitmix(), splitmix())
    }

    public mutating func next() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0; s.3 ^= s.1; s.1 ^= s.2; s.0 ^= s.3
        s.2 ^= t
        s.3 = s.3 << 45 | s.3 >> 19
        return result
    }

    /// A uniform float in [0, 1).
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }
}

public struct Sampler: Sendable {
    public let options: SamplingOptions
    private var rng: SeededRandom
    /// Tokens seen so far (prompt and generated), for the penalties.
    private var history: [Int] = []

    public init(_ options: SamplingOptions) {
        self.options = options
        rng = SeededRandom(seed: options.seed ?? UInt64.random(in: 0...UInt64.max))
    }

    /// Records tokens that count towards the repetition penalties (the prompt, then each sampled token).
    public mutating func accept(_ tokens: [Int]) { history += tokens }

    /// The next token for `logits` (one row, vocabulary-sized).
    public mutating func sample(_ logits: UnsafeBufferPointer<Float>) -> Int {
        // Penalties touch only the recent tokens; the logits are copied only when there are some.
        let penalized = penalties(logits)
        if penalized.isEmpty { return pick(logits) }
        var copy = Array(logits)
        for (t, l) in penalized { copy[t] = l }
        return copy.withUnsafeBufferPointer { pick($0) }
    }

    private mutating func pick(_ logits: UnsafeBufferPointer<Float>) -> Int {
        let o = options
        @inline(__always) func logit(_ i: Int) -> Float { logits[i] }

        if o.temperature <= 0 {
            var best = 0
            for i in 1..<logits.count where logit(i) > logit(best) { best = i }
            return best
        }

        // top_k: the k largest (ties by lower id) through a k-element heap, then sorted descending.
        var cand: [Candidate]
        if o.topK > 0 && o.topK < logits.count {
            var heap = PriorityHeap<Candidate>()
            for i in 0..<logits.count {
                let c = Candidate(id: i, logit: logit(i))
                if heap.items.count < o.topK { heap.push(c) }
                else if Candidate.precedes(heap.items[0], c) { _ = heap.pop(); heap.push(c) }
            }
            cand = heap.items
        } else {
            cand = (0..<logits.count).map { Candidate(id: $0, logit: logit($0)) }
        }
        cand.sort { Candidate.precedes($1, $0) }
        if o.typicalP < 1 { typical(&cand, o.typicalP) }
        if o.topP < 1 { topP(&cand, o.topP) }
        if o.minP > 0 { minP(&cand, o.minP) }
        // temperature, softmax, draw.
        let mx = cand[0].logit
        var probs = cand.map { Double(expf(($0.logit - mx) / o.temperature)) }
        let total = probs.reduce(0, +)
        for i in probs.indices { probs[i] /= total }
        let r = rng.unit()
        var acc = 0.0
        for (i, p) in probs.enumerated() {
            acc += p
            if r < acc { return cand[i].id }
        }
        return cand[cand.count - 1].id
    }

    /// A token and its (penalized) logit; `precedes` orders worst first (lower logit, then higher id), so a
    /// PriorityHeap of them keeps the best k with the weakest on top.
    struct Candidate: HeapOrdered {
        let id: Int
        var logit: Float
        static func precedes(_ a: Candidate, _ b: Candidate) -> Bool {
            a.logit != b.logit ? a.logit < b.logit : a.id > b.id
        }
    }

    /// Penalized logits of the tokens among the last repeat_last_n (repeat, frequency and presence penalties).
    private func penalties(_ logits: UnsafeBufferPointer<Float>) -> [Int: Float] {
        let o = options
        let n = o.repeatLastN < 0 ? history.count : min(o.repeatLastN, history.count)
        guard n > 0, o.repeatPenalty != 1 || o.presencePenalty != 0 || o.frequencyPenalty != 0 else { return [:] }
        var counts: [Int: Int] = [:]
        for t in history.suffix(n) { counts[t, default: 0] += 1 }
        var out: [Int: Float] = [:]
        for (t, c) in counts where t >= 0 && t < logits.count {
            var l = logits[t]
            if o.repeatPenalty != 1 { l = l <= 0 ? l * o.repeatPenalty : l / o.repeatPenalty }
            l -= Float(c) * o.frequencyPenalty + (c > 0 ? o.presencePenalty : 0)
            out[t] = l
        }
        return out
    }

    /// Softmax probabilities of sorted candidates.
    private func softmax(_ cand: [Candidate]) -> [Double] {
        let mx = cand[0].logit
        var p = cand.map { Double(expf($0.logit - mx)) }
        let s = p.reduce(0, +)
        for i in p.indices { p[i] /= s }
        return p
    }

    /// Smallest prefix whose probability mass reaches p (at least one token).
    private func topP(_ cand: inout [Candidate], _ p: Float) {
        let probs = softmax(cand)
        var acc = 0.0
        for (i, q) in probs.enumerated() {
            acc += q
            if acc >= Double(p) { cand.removeLast(cand.count - (i + 1)); return }
        }
    }

    /// Tokens whose probability is at least p × the top token's (at least one).
    private func minP(_ cand: inout [Candidate], _ p: Float) {
        let threshold = cand[0].logit + logf(p)
        let keep = cand.prefix { $0.logit >= threshold }.count
        cand.removeLast(cand.count - max(1, keep))
    }

    /// Locally typical sampling: tokens sorted by |−log p − H|, smallest set with mass ≥ p.
    private func typical(_ cand: inout [Candidate], _ p: Float) {
        let probs = softmax(cand)
        let entropy = -probs.reduce(0) { $0 + ($1 > 0 ? $1 * log($1) : 0) }
        let order = probs.indices.sorted { abs(-log(probs[$0]) - entropy) < abs(-log(probs[$1]) - entropy) }
        var acc = 0.0, keep: [Int] = []
        for i in order {
            acc += probs[i]
            keep.append(i)
            if acc >= Double(p) { break }
        }
        keep.sort()
        cand = keep.map { cand[$0] }
    }
}
