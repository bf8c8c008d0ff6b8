// GenerationEval: a model (base, base + adapter, or the tiny model) on held-out instruction examples — the held-out
// loss of the response and what it generates from each example's prompt — for `llmkit eval --data x.jsonl` and
// `llmkit compare`.
//
// Per example (records from SFTData, rendered by SFTPrompt exactly as `llmkit finetune` trains on them):
//   loss: prompt + response tokens (response incl. its end-of-turn token) run once from an empty cache; the logits
//         at positions prompt−1 … prompt+response−2 score the response tokens (log-softmax as Evaluation does).
//         Response tokens past the model's context are not scored.
//   generation: greedy (temperature 0, no penalties) from the prompt — the cache keeps the prompt's keys/values
//         from the loss pass — until an end-of-generation token or `maxNewTokens`. The text is the prediction.
//   metrics: ROUGE-L F1 and exact match of the prediction against the record's response (GenerationMetrics);
//         code parsing of the prediction for the example's language ("lang" of the JSONL line: go, swift, python),
//         on the first ``` fenced block when the prediction has one (chat models wrap code in fences), else on
//         the whole prediction; a blank one fails (an empty file parses, but it is no answer); languages without a
//         checker are counted as skipped, never as parsed or failed.
// Totals: loss = response nats / scored response tokens over all examples (token-weighted), perplexity = e^loss,
// ROUGE-L and exact match = means over the examples, parse share = parsed / checked, tokens/s = generated tokens
// / time spent generating them (the decode rate; the loss pass is not in it).
// Short contexts (the tiny model's 256): a prompt longer than context − min(maxNewTokens, context/2) tokens keeps only
// its last that many tokens (counted as cut), so every model answers every example; response tokens past the
// context after the prompt are not scored.

import Foundation
import Formats
import Infer

public struct GenerationSample: Sendable {
    public var source: String
    public var lang: String?
    public var reference: String
    public var prediction: String
    public var rougeL: Double
    public var exact: Bool
    public var parse: CodeParser.Outcome?
    public var promptTokens: Int
    public var responseTokens: Int
    public var generatedTokens: Int
    public var nats: Double
    /// UTF-8 bytes of the scored response tokens' text (control tokens such as <|im_end|> count none).
    public var responseBytes: Int
}

public struct GenerationEvalResult: Sendable {
    public var model: String
    public var samples: [GenerationSample] = []
    /// Examples whose prompt was cut to fit the context.
    public var cutPrompts = 0
    public var responseTokens = 0
    public var responseBytes = 0
    public var totalNats = 0.0
    public var generatedTokens = 0
    public var generateSeconds = 0.0
    public var seconds = 0.0

    public init(model: String) { self.model = model }

    public var loss: Double { totalNats / Double(max(responseTokens, 1)) }
    public var perplexity: Double { exp(loss) }
    /// Response nats in bits per byte of response text: comparable across tokenizers (a char model vs BPE).
    public var bitsPerByte: Double { totalNats / log(2) / Double(max(responseBytes, 1)) }
    public var rougeL: Double { samples.isEmpty ? 0 : samples.map(\.rougeL).reduce(0, +) / Double(samples.count) }
    public var exactMatch: Double { samples.isEmpty ? 0 : Double(samples.filter(\.exact).count) / Double(samples.count) }
    public var tokensPerSecond: Double { Double(generatedTokens) / max(generateSeconds, 1e-9) }

    /// Per language: (parsed, checked) for languages with a checker, and the reason for skipped ones.
    public var parseCounts: (byLanguage: [String: (parsed: Int, checked: Int)], skipped: [String: String]) {
        var by: [String: (parsed: Int, checked: Int)] = [:], skipped: [String: String] = [:]
        for s in samples {
            let lang = s.lang ?? "unknown"
            switch s.parse {
            case .parsed?: by[lang, default: (0, 0)].parsed += 1; by[lang, default: (0, 0)].checked += 1
            case .failed?: by[lang, default: (0, 0)].checked += 1
            case let .skipped(why)?: skipped[lang] = why
            case nil: skipped[lang] = "no language given"
            }
        }
        return (by, skipped)
    }

    /// parsed / checked over all languages with a checker, nil when none was checked.
    public var parseShare: Double? {
        let c = parseCounts.byLanguage.values
        let checked = c.map(\.checked).reduce(0, +)
        return checked == 0 ? nil : Double(c.map(\.parsed).reduce(0, +)) / Double(checked)
    }

    /// The result as JSON (figures, then every sample).
    public func json(extra: [(String, JSON)] = []) -> JSON {
        func d(_ x: Double) -> JSON { x.isFinite ? .double(x) : .null }
        let counts = parseCounts
        let byLang = counts.byLanguage.sorted { $0.key < $1.key }.map {
            ($0.key, JSON.object([("parsed", .int($0.value.parsed)), ("checked", .int($0.value.checked))]))
        }
        let skipped = counts.skipped.sorted { $0.key < $1.key }.map { ($0.key, JSON.string($0.value)) }
        let sampleJSON: [JSON] = samples.map { s in
            let parse: JSON
            switch s.parse {
            case .parsed?: parse = .string("parsed")
            case .failed?: parse = .string("failed")
            case let .skipped(why)?: parse = .string("skipped: \(why)")
            case nil: parse = .null
            }
            return .object([("source", .string(s.source)), ("lang", s.lang.map { .string($0) } ?? .null),
                            ("prompt_tokens", .int(s.promptTokens)), ("response_tokens", .int(s.responseTokens)),
                            ("generated_tokens", .int(s.generatedTokens)), ("loss", d(s.nats / Double(max(s.responseTokens, 1)))),
                            ("response_bytes", .int(s.responseBytes)), ("bits_per_byte", d(s.nats / log(2) / Double(max(s.responseBytes, 1)))),
                            ("rouge_l", d(s.rougeL)), ("exact", .bool(s.exact)), ("parse", parse),
                            ("reference", .string(s.reference)), ("prediction", .string(s.prediction))])
        }
        return .object([("model", .string(model))] + extra + [
            ("examples", .int(samples.count)), ("cut_prompts", .int(cutPrompts)),
            ("response_tokens", .int(responseTokens)), ("loss", d(loss)), ("perplexity", d(perplexity)),
            ("response_bytes", .int(responseBytes)), ("bits_per_byte", d(bitsPerByte)),
            ("rouge_l", d(rougeL)), ("exact_match", d(exactMatch)), ("parse_share", parseShare.map(d) ?? .null),
            ("parse_by_language", .object(byLang)), ("parse_skipped", .object(skipped)),
            ("generated_tokens", .int(generatedTokens)), ("tokens_per_second", d(tokensPerSecond)), ("seconds", d(seconds)),
            ("samples", .array(sampleJSON)),
        ])
    }
}

public enum GenerationEval {
    /// Evaluates `network` on `records` (with their languages, nil where unknown). `progress(done, total)` after each.
    public static func evaluate(name: String, network: any LanguageModel, prompt: SFTPrompt, records: [SFTRecord],
                                languages: [String?], maxNewTokens: Int, threads: Int, parser: CodeParser = CodeParser(),
                                progress: ((Int, Int) -> Void)? = nil) throws -> GenerationEvalResult {
        guard maxNewTokens >= 1 else { throw FinetuneError.config("--max-new-tokens must be at least 1") }
        guard languages.count == records.count else { throw FinetuneError.config("one language per record expected") }
        let tokenizer = prompt.tokenizer
        let vocab = network.vocabularySize
        let context = network.trainedContextLength
        var result = GenerationEvalResult(model: name)
        let t0 = Date()
        for (k, record) in records.enumerated() {
            defer { progress?(k + 1, records.count) }
            let (p32, r32) = try prompt.render(record)
            var p = p32.map(Int.init)
            let fullResponse = r32.map(Int.init)
            guard !p.isEmpty else { throw FinetuneError.data(file: record.source, message: "the example renders to an empty prompt") }
            let room = context - min(maxNewTokens, context / 2)
            if p.count > room {
                p = Array(p.suffix(room))
                result.cutPrompts += 1
            }
            for t in p + fullResponse where t < 0 || t >= vocab {
                throw FinetuneError.data(file: record.source, message: "token id \(t) is outside the model's vocabulary of \(vocab)")
            }
            let r = Array(fullResponse.prefix(context - p.count))
            let bytes = r.reduce(0) { $0 + tokenizer.piece($1, special: false).count }
            let cache = network.makeCache(contextLength: min(context, p.count + max(r.count, maxNewTokens)))
            // Loss: logits at positions p−1 … p+r−2 score the response tokens.
            var nats = 0.0
            let seq = p + r.dropLast()
            var j = 0
            var row = 0
            while j < seq.count {
                let n = min(512, seq.count - j)
                let outs = (0..<n).filter { j + $0 >= p.count - 1 && j + $0 - (p.count - 1) < r.count }
                let logits = try network.forward(Array(seq[j..<(j + n)]), cache: cache, outputs: outs, threads: threads)
                logits.withUnsafeBufferPointer { lp in
                    for o in 0..<outs.count {
                        nats -= Evaluation.logProbability(UnsafeBufferPointer(rebasing: lp[(o * vocab)..<((o + 1) * vocab)]), r[row])
                        row += 1
                    }
                }
                j += n
            }
            // Generation from the prompt: its first p−1 positions are in the cache already.
            cache.truncate(to: p.count - 1)
            var options = GenerationOptions()
            options.sampling = .greedy
            options.maxTokens = maxNewTokens
            options.threads = threads
            let g = try Generator(model: network, tokenizer: tokenizer, cache: cache, prompt: [p[p.count - 1]], options: options)
            var prediction = ""
            while let piece = try g.next() { prediction += piece }
            let reference = record.response
            let lang = languages[k]
            let code = codeOf(prediction)
            let blank = code.allSatisfy { $0.isWhitespace }
            let parse: CodeParser.Outcome? = lang.map { l in
                let o = parser.check(code, lang: l)
                return blank && o == .parsed ? .failed : o  // no code is not code that parses
            }
            result.samples.append(GenerationSample(
                source: record.source, lang: lang, reference: reference, prediction: prediction,
                rougeL: GenerationMetrics.rougeL(target: reference, prediction: prediction).fmeasure,
                exact: GenerationMetrics.exactMatch(target: reference, prediction: prediction), parse: parse,
                promptTokens: p.count, responseTokens: r.count, generatedTokens: g.stats.generatedTokens, nats: nats, responseBytes: bytes))
            result.responseTokens += r.count
            result.responseBytes += bytes
            result.totalNats += nats
            result.generatedTokens += g.stats.generatedTokens
            result.generateSeconds += Double(g.stats.generateNanoseconds) / 1e9
        }
        result.seconds = Date().timeIntervalSince(t0)
        return result
    }

    /// The first ``` fenced block's body when the text has one, else the text.
    public static func codeOf(_ text: String) -> String {
        guard let open = text.range(of: "```") else { return text }
        guard let nl = text[open.upperBound...].firstIndex(of: "\n") else { return text }
        let body = text[text.index(after: nl)...]
        guard let close = body.range(of: "```") else { return String(body) }
        return String(body[..<close.lowerBound])
    }

    /// The "lang" of each record of a JSON / JSONL data file, in SFTData's order (nil where absent); for a record
    /// without one, the language of its "source" file name (dataset extract's "path:line"), if known.
    public static func languages(path: String) throws -> [String?] {
        guard let data = FileManager.default.contents(atPath: path) else { throw FinetuneError.data(file: path, message: "cannot read the file") }
        let text = String(decoding: data, as: UTF8.self)
        var objects: [Any] = []
        if text.drop(while: { $0.isWhitespace }).first == "[" {
            objects = (try? JSON.parse(data, file: path) as? [Any]) ?? []
        } else {
            for line in text.split(separator: "\n", omittingEmptySubsequences: true) where !line.allSatisfy({ $0.isWhitespace }) {
                objects.append((try? JSON.parse(Data(line.utf8), file: path)) ?? [:])
            }
        }
        return objects.map { o in
            guard let d = o as? [String: Any] else { return nil }
            if let l = d["lang"] as? String { return l }
            if let s = d["source"] as? String, let name = s.split(separator: ":").first {
                return DatasetExtractor.language(ofFile: String(name))
            }
            return nil
        }
    }
}
