// Evaluation: how well a language model predicts a text — loss (mean negative log-likelihood in nats per
// token), perplexity, bits per character and bits per byte — for any model Infer runs (a GGUF of the llama or
// gpt2 architecture, e.g. SmolLM2 or the tiny model the trainer exports). Issue 7 extends this folder with
// generation metrics (ROUGE-L …).
//
// Windows: the text's tokens (BOS first when the tokenizer adds one; EOS never) are cut into consecutive
// non-overlapping windows of `context` tokens (the last one may be shorter; a window of one token is dropped).
// Each window runs from an empty KV cache through `LanguageModel.forward` with logits for every position; the
// logits at position j score token j+1, so each window's first token is not scored (it has no context).
// Log-probabilities: F32 logits, max-shifted, exponentials summed in Double (as llama-perplexity).
// Characters and bytes are those of the scored tokens' pieces (control tokens contribute none); characters are
// Unicode scalars (UTF-8 lead bytes), so a scalar split across tokens counts once.
//   loss = nats / scored, perplexity = e^loss, bits/char = nats / ln 2 / characters, bits/byte = nats / ln 2 / bytes.

import Foundation
import Infer

public struct EvalResult: Codable, Equatable, Sendable {
    public var context: Int
    public var windows: Int
    /// Tokens of the text (incl. a BOS the tokenizer adds) and tokens scored (tokens − windows).
    public var tokens: Int
    public var scoredTokens: Int
    /// Sum of −log p over the scored tokens, in nats.
    public var totalNats: Double
    public var characters: Int
    public var bytes: Int
    public var loss: Double { totalNats / Double(max(scoredTokens, 1)) }
    public var perplexity: Double { exp(loss) }
    public var bitsPerCharacter: Double { totalNats / log(2) / Double(max(characters, 1)) }
    public var bitsPerByte: Double { totalNats / log(2) / Double(max(bytes, 1)) }

    enum CodingKeys: String, CodingKey {
        case context, windows, tokens, scoredTokens = "scored_tokens", totalNats = "total_nats", characters, bytes
    }

    /// The result as a JSON object (snake_case keys, derived figures included).
    public func json() -> String {
        func d(_ x: Double) -> String { x.isFinite ? String(format: "%.17g", x) : "null" }
        return "{\"context\": \(context), \"windows\": \(windows), \"tokens\": \(tokens), \"scored_tokens\": \(scoredTokens), "
            + "\"total_nats\": \(d(totalNats)), \"characters\": \(characters), \"bytes\": \(bytes), \"loss\": \(d(loss)), "
            + "\"perplexity\": \(d(perplexity)), \"bits_per_character\": \(d(bitsPerCharacter)), \"bits_per_byte\": \(d(bitsPerByte))}"
    }
}

public enum Evaluation {
    /// The token ids an evaluation of `text` scores windows of: BOS first if the tokenizer adds one.
    public static func tokens(of text: String, tokenizer: any Tokenizer) -> [Int] {
        var t = tokenizer.encode(text, addSpecial: false, parseSpecial: false)
        if tokenizer.addsBOS, let b = tokenizer.bos { t.insert(b, at: 0) }
        return t
    }

    /// Scores `tokens` in windows of `context` (≤ the model's trained context), `batch` tokens per forward pass.
    /// `progress(windowsDone, windowsTotal)` is called after each window.
    public static func evaluate(network: any LanguageModel, tokenizer: any Tokenizer, tokens: [Int], context: Int,
                                batch: Int, threads: Int, progress: ((Int, Int) -> Void)? = nil) throws -> EvalResult {
        guard context >= 2 else { throw FinetuneError.config("context must be at least 2 tokens, not \(context)") }
        guard batch >= 1, threads >= 1 else { throw FinetuneError.config("batch and threads must be positive") }
        guard context <= network.trainedContextLength else {
            throw FinetuneError.config("context \(context) is longer than the model's \(network.trainedContextLength)")
        }
        let vocab = network.vocabularySize
        var starts = Array(stride(from: 0, to: tokens.count, by: context))
        if let last = starts.last, tokens.count - last < 2 { starts.removeLast() }
        guard !starts.isEmpty else {
            throw FinetuneError.config("the text has \(tokens.count) token(s); at least 2 are needed to score one")
        }
        for t in tokens where t < 0 || t >= vocab { throw FinetuneError.config("token id \(t) is outside the model's vocabulary of \(vocab)") }
        let cache = network.makeCache(contextLength: context)
        var result = EvalResult(context: context, windows: starts.count, tokens: tokens.count, scoredTokens: 0, totalNats: 0,
                                characters: 0, bytes: 0)
        for (w, s) in starts.enumerated() {
            let n = min(context, tokens.count - s)
            cache.truncate(to: 0)
            var logits: [Float] = []
            logits.reserveCapacity((n - 1) * vocab)
            var j = 0
            while j < n - 1 {  // the last token's logits predict past the window: not needed
                let m = min(batch, n - j)
                let outputs = (0..<m).filter { j + $0 < n - 1 }
                logits += try network.forward(Array(tokens[(s + j)..<(s + j + m)]), cache: cache, outputs: outputs, threads: threads)
                j += m
            }
            logits.withUnsafeBufferPointer { lp in
                for r in 0..<(n - 1) {
                    let target = tokens[s + r + 1]
                    result.totalNats -= logProbability(UnsafeBufferPointer(rebasing: lp[(r * vocab)..<((r + 1) * vocab)]), target)
                    let piece = tokenizer.piece(target, special: false)
                    result.bytes += piece.count
                    for b in piece where b & 0xC0 != 0x80 { result.characters += 1 }
                }
            }
            result.scoredTokens += n - 1
            progress?(w + 1, starts.count)
        }
        return result
    }

    /// log softmax(logits)[target]: max-shifted, exponentials in Float, summed in Double.
    public static func logProbability(_ logits: UnsafeBufferPointer<Float>, _ target: Int) -> Double {
        var mx = -Float.infinity
        for v in logits { mx = max(mx, v) }
        var sum = 0.0
        for v in logits { sum += Double(expf(v - mx)) }
        return Double(logits[target] - mx) - log(sum)
    }
}
