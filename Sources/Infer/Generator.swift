// Generator: one sequence's generation loop — the prompt through the model as a batch, then one token at a time
// through the sampler — handing out text pieces that never split a UTF-8 character and never contain (or run
// past) a stop string, even one that spans tokens. Ends at an end-of-generation token, a stop string, the
// token budget (num_predict) or a full context — or, with `shiftKeep` set and a RoPE model, shifts the context
// (KVCache.shift) and goes on. Pull-based (`next()`), so a caller (CLI, server) owns the loop.
import Foundation
import Quant

public struct GenerationOptions: Sendable {
    public var sampling = SamplingOptions()
    /// Tokens to generate at most; nil or negative: until the context is full.
    public var maxTokens: Int? = nil
    public var stop: [String] = []
    /// Keep going past end-of-generation tokens (benchmarks, references).
    public var ignoreEOS = false
    public var threads = Convert.defaultThreads
    /// Prompt tokens per forward pass (llama.cpp's n_ubatch).
    public var batchSize = 512
    /// Context shift when the cache is full (llama.cpp's context shift): the first `shiftKeep` positions stay, half
    /// of the rest (n_discard = n_left / 2) is dropped. nil: stop with "length" at a full context.
    public var shiftKeep: Int? = nil
    public init() {}
}

public enum FinishReason: String, Sendable { case stop, length }

public struct GenerationStats: Sendable {
    public var promptTokens = 0
    public var promptNanoseconds: UInt64 = 0
    public var generatedTokens = 0
    public var generateNanoseconds: UInt64 = 0
}

public final class Generator {
    public let model: any LanguageModel
    public let tokenizer: any Tokenizer
    public let cache: KVCache
    public var options: GenerationOptions
    public private(set) var stats = GenerationStats()
    public private(set) var finishReason: FinishReason?
    /// Every token generated so far (including a final end-of-generation token).
    public private(set) var tokens: [Int] = []
    /// Top-1 minus top-2 logit at each step (for checking against references).
    public private(set) var margins: [Float] = []
    /// Context shifts done, in order: positions keep..<keep+discard of the cache were dropped.
    public private(set) var shifts: [(keep: Int, discard: Int)] = []

    private var sampler: Sampler
    private var logits: [Float] = []
    private var text: TextStream
    private var done = false

    /// Runs the prompt (`prompt` tokens appended to whatever `cache` holds) and prepares the first token.
    public init(model: any LanguageModel, tokenizer: any Tokenizer, cache: KVCache, prompt: [Int], options: GenerationOptions) throws {
        try options.sampling.validate()
        guard !prompt.isEmpty else { throw InferError.invalidRequest("empty prompt: nothing to continue from") }
        guard cache.count + prompt.count <= cache.contextLength else {
            throw InferError.invalidRequest("the prompt (\(prompt.count) tokens) does not fit the context (\(cache.contextLength - cache.count) free)")
        }
        self.model = model
        self.tokenizer = tokenizer
        self.cache = cache
        self.options = options
        sampler = Sampler(options.sampling)
        text = TextStream(stop: options.stop)
        sampler.accept(prompt)
        let t0 = DispatchTime.now().uptimeNanoseconds
        var i = 0
        while i < prompt.count {
            let n = min(max(1, options.batchSize), prompt.count - i)
            let last = i + n == prompt.count
            logits = try model.forward(Array(prompt[i..<(i + n)]), cache: cache, outputs: last ? [n - 1] : [], threads: options.threads)
            i += n
        }
        stats.promptTokens = prompt.count
        stats.promptNanoseconds = DispatchTime.now().uptimeNanoseconds - t0
    }

    /// The next piece of text (possibly empty while bytes or a possible stop string are held back), or nil
    /// when generation has finished (`finishReason` says why).
    public func next() throws -> String? {
        if done { return nil }
        if let max = options.maxTokens, max >= 0, stats.generatedTokens >= max { return finish(.length) }
        let t0 = DispatchTime.now().uptimeNanoseconds
        let token = logits.withUnsafeBufferPointer { sampler.sample($0) }
        margins.append(logits.withUnsafeBufferPointer(Generator.margin))
        tokens.append(token)
        sampler.accept([token])
        stats.generatedTokens += 1
        if tokenizer.isEndOfGeneration(token) && !options.ignoreEOS {
            stats.generateNanoseconds += DispatchTime.now().uptimeNanoseconds - t0
            return finish(.stop)
        }
        // Feed it back unless this was the last token we may produce.
        let budgetLeft = options.maxTokens.map { $0 < 0 || stats.generatedTokens < $0 } ?? true
        if budgetLeft && cache.count >= cache.contextLength, let keep = options.shiftKeep, let rope = model.rope, cache.count > 1 {
            let k = max(0, min(keep, cache.count - 1))
            let discard = max(1, (cache.count - k) / 2)
            cache.shift(keep: k, discard: discard, rope: rope)
            shifts.append((k, discard))
        }
        if budgetLeft && cache.count < cache.contextLength {
            logits = try model.forward([token], cache: cache, outputs: [0], threads: options.threads)
        } else if budgetLeft {
            stats.generateNanoseconds += DispatchTime.now().uptimeNanoseconds - t0
            let piece = emit(tokenizer.piece(token, special: false))
            if finishReason != nil { return piece }
            return piece + (finish(.length) ?? "")
        }
        stats.generateNanoseconds += DispatchTime.now().uptimeNanoseconds - t0
        return emit(tokenizer.piece(token, special: false))
    }

    private func emit(_ bytes: [UInt8]) -> String {
        let out = text.feed(bytes)
        if text.stopped {
            finishReason = .stop
            done = true
        }
        return out
    }

    private func finish(_ reason: FinishReason) -> String? {
        done = true
        finishReason = reason
        let rest = text.finish()
        return rest.isEmpty ? nil : rest
    }

    static func margin(_ l: UnsafeBufferPointer<Float>) -> Float {
        var a = -Float.infinity, b = -Float.infinity
        for v in l {
            if v > a { b = a; a = v } else if v > b { b = v }
        }
        return a - b
    }
}

/// Token bytes in, displayable text out: never splits a UTF-8 character, holds back any tail that could still
/// become a stop string, and cuts the text before the first stop string (then `stopped` is true).
public struct TextStream: Sendable {
    public let stop: [String]
    public private(set) var stopped = false
    private var pendingBytes: [UInt8] = []
    private var pendingText = ""

    public init(stop: [String]) { self.stop = stop.filter { !$0.isEmpty } }

    /// Adds bytes; returns the text now safe to show (possibly empty).
    public mutating func feed(_ bytes: [UInt8]) -> String {
        guard !stopped else { return "" }
        pendingBytes += bytes
        let complete = TextStream.completeUTF8Prefix(pendingBytes)
        pendingText += String(decoding: pendingBytes[..<complete], as: UTF8.self)
        pendingBytes.removeFirst(complete)
        var cut: String.Index? = nil
        for s in stop {
            if let r = pendingText.range(of: s), cut == nil || r.lowerBound < cut! { cut = r.lowerBound }
        }
        if let cut {
            let out = String(pendingText[..<cut])
            pendingText = ""
            pendingBytes = []
            stopped = true
            return out
        }
        var hold = 0
        for s in stop {
            var k = min(s.count - 1, pendingText.count)
            while k > 0 {
                if pendingText.hasSuffix(s.prefix(k)) { hold = max(hold, k); break }
                k -= 1
            }
        }
        let split = pendingText.index(pendingText.endIndex, offsetBy: -hold)
        let out = String(pendingText[..<split])
        pendingText = String(pendingText[split...])
        return out
    }

    /// The end: whatever was held back is real text after all (an incomplete character becomes U+FFFD).
    public mutating func finish() -> String {
        let rest = pendingText + String(decoding: pendingBytes, as: UTF8.self)
        pendingText = ""
        pendingBytes = []
        return rest
    }

    /// Length of the longest prefix of `b` that does not end inside a UTF-8 sequence (invalid bytes count as
    /// complete: they decode to U+FFFD rather than wait forever).
    static func completeUTF8Prefix(_ b: [UInt8]) -> Int {
        var i = b.count - 1
        var back = 0
        while i >= 0 && back < 4 && b[i] & 0xC0 == 0x80 { i -= 1; back += 1 }
        guard i >= 0 else { return b.count }
        let lead = b[i]
        let need = lead >= 0xF0 && lead < 0xF8 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1
        return b.count - i < need ? i : b.count
    }
}
