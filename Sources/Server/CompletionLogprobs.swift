// CompletionLogprobs: /v1/completions' `logprobs`. The request follows Ollama's openai.FromCompleteRequest — an
// integer n > 0 asks for each token's log probability and n alternatives (more than 20: generate's 400), 0, a
// negative number or null asks for none. Ollama's ToCompletion / ToCompleteChunk then drop the values; llmkit
// answers in the shape OpenAI's legacy completions API and its clients define instead: four parallel arrays —
// `tokens`, `token_logprobs`, `top_logprobs` (one {token text: log probability} object per position, most likely
// first) and `text_offset` (the character where each token starts in the choice's text, counted across the chunks
// of a stream). A −∞ log probability is sent as −9999, as in the chat shape.
import Formats
import Infer
import Synchronization

/// The legacy `logprobs` request field: nil unless n > 0; n above 20 is Ollama's top_logprobs error.
func completionLogprobsRequest(_ n: Int?) throws(APIError) -> Int? {
    guard let n, n > 0 else { return nil }
    return try requestedLogprobs(enabled: true, top: n)
}

/// Builds the legacy `logprobs` objects of one choice, chunk after chunk; `offset` is where the next token's text
/// starts.
final class CompletionLogprobs: Sendable {
    private let tokenizer: any Tokenizer
    private let offset = Mutex<Int>(0)

    init(_ tokenizer: any Tokenizer) { self.tokenizer = tokenizer }

    /// The `logprobs` field for the tokens `l` (the next ones of the choice); null when there are none.
    func field(_ l: [Logprob]) -> (String, JSON) {
        guard !l.isEmpty else { return ("logprobs", .null) }
        var tokens: [JSON] = [], values: [JSON] = [], tops: [JSON] = [], offsets: [JSON] = []
        offset.withLock { at in
            for e in l {
                let bytes = tokenizer.piece(e.token, special: true)
                tokens.append(.string(String(decoding: bytes, as: UTF8.self)))
                values.append(.double(CompletionLogprobs.finite(e.logprob)))
                var seen = Set<String>()
                var top: [(String, JSON)] = []
                for t in e.top {
                    let text = String(decoding: tokenizer.piece(t.token, special: true), as: UTF8.self)
                    if seen.insert(text).inserted { top.append((text, .double(CompletionLogprobs.finite(t.logprob)))) }
                }
                tops.append(.object(top))
                offsets.append(.int(at))
                at += bytes.reduce(0) { $0 + ($1 & 0xC0 == 0x80 ? 0 : 1) }  // characters: UTF-8 lead bytes
            }
        }
        return ("logprobs", .object([("tokens", .array(tokens)), ("token_logprobs", .array(values)),
                                     ("top_logprobs", .array(tops)), ("text_offset", .array(offsets))]))
    }

    private static func finite(_ x: Double) -> Double { x.isFinite ? x : -9999 }
}
