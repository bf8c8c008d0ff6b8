// Infill: fill-in-the-middle for `suffix` on /api/generate and /v1/completions, as llama.cpp's server builds an
// infill prompt (tools/server's format_infill) when the vocabulary has FIM tokens. The tokens come from the GGUF keys
// tokenizer.ggml.fim_{pre,suf,mid,pad,rep,sep}_token_id (and the deprecated prefix/suffix/middle ones), else from
// token texts as llama-vocab.cpp recognizes them (<|fim_prefix|>, <fim_prefix>, <PRE>, …). Layout, prefix-suffix-middle:
//     [FIM_REP]myproject\n [FIM_SEP]filename\n [BOS] [FIM_PRE]prefix [FIM_SUF]suffix [FIM_MID]
// the repo/file part only for tokens the vocabulary has, the prefix cut to its last 3/4 of a batch and the suffix
// to its first 1/4 minus 2. Ollama instead supports suffix through a Go TEMPLATE that uses .Suffix (not here).
import Formats
import Foundation
import Infer

/// A vocabulary's fill-in-the-middle token ids (llama_vocab's special_fim_*).
struct FIMTokens: Equatable, Sendable {
    var pre: Int?, suf: Int?, mid: Int?, pad: Int?, rep: Int?, sep: Int?

    init(pre: Int? = nil, suf: Int? = nil, mid: Int? = nil, pad: Int? = nil, rep: Int? = nil, sep: Int? = nil) {
        (self.pre, self.suf, self.mid, self.pad, self.rep, self.sep) = (pre, suf, mid, pad, rep, sep)
    }

    /// What /infill needs: prefix, suffix and middle.
    var supportsInfill: Bool { pre != nil && suf != nil && mid != nil }

    /// llama-vocab.cpp's key order: the deprecated keys come last and win when both are there.
    nonisolated(unsafe) static let keys: [(String, WritableKeyPath<FIMTokens, Int?>)] = [
        ("tokenizer.ggml.fim_pre_token_id", \.pre), ("tokenizer.ggml.fim_suf_token_id", \.suf),
        ("tokenizer.ggml.fim_mid_token_id", \.mid), ("tokenizer.ggml.fim_pad_token_id", \.pad),
        ("tokenizer.ggml.fim_rep_token_id", \.rep), ("tokenizer.ggml.fim_sep_token_id", \.sep),
        ("tokenizer.ggml.prefix_token_id", \.pre), ("tokenizer.ggml.suffix_token_id", \.suf),
        ("tokenizer.ggml.middle_token_id", \.mid),
    ]

    /// Token texts llama-vocab.cpp takes for each FIM token when no key names one.
    nonisolated(unsafe) static let texts: [(WritableKeyPath<FIMTokens, Int?>, Set<String>)] = [
        (\.pre, ["<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>"]),
        (\.suf, ["<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>"]),
        (\.mid, ["<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>"]),
        (\.pad, ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>"]),
        (\.rep, ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"]),
        (\.sep, ["<|file_sep|>"]),
    ]

    /// From GGUF metadata: the keys (an id outside the vocabulary is ignored, as llama.cpp does), then token texts
    /// for what is still missing (the lowest id wins where several texts match; llama.cpp's map order is unspecified).
    init(metadata: GGUFMetadata) {
        let tokens = metadata["tokenizer.ggml.tokens"]?.strings ?? []
        self.init(ids: FIMTokens.keys.map { (key, _) in metadata[key]?.int }, tokens: tokens)
    }

    /// `ids`: the value of each of `keys` (nil when absent).
    init(ids: [Int?], tokens: [String]) {
        for ((_, path), id) in zip(FIMTokens.keys, ids) {
            if let id, id >= 0, id < tokens.count { self[keyPath: path] = id }
        }
        for (path, names) in FIMTokens.texts where self[keyPath: path] == nil {
            self[keyPath: path] = tokens.firstIndex(where: names.contains)
        }
    }
}

enum Infill {
    /// Ollama's default num_batch, the batch llama.cpp's layout is cut to.
    static let defaultBatch = 512

    /// llama.cpp's format_infill with no extra chunks and no prompt after the prefix (Ollama's API has neither).
    /// `nPredict` < 0 is "until the end", as llama.cpp's n_predict = -1.
    static func tokens(prefix: String, suffix: String, fim: FIMTokens, tokenizer: any Tokenizer,
                       nBatch: Int, nPredict: Int, nCtx: Int, spm: Bool = false) -> [Int] {
        guard let pre = fim.pre, let suf = fim.suf, let mid = fim.mid else { return [] }
        func tokenize(_ s: String) -> [Int] { tokenizer.encode(s, addSpecial: false, parseSpecial: false) }
        var extra: [Int] = []
        if let rep = fim.rep { extra += [rep] + tokenize("myproject\n") }
        if let sep = fim.sep { extra += [sep] + tokenize("filename\n") }
        var prefixIDs = tokenize(prefix), suffixIDs = tokenize(suffix)
        let promptCount = 0
        let prefixTake = min(prefixIDs.count, 3 * (nBatch / 4))
        let suffixTake = min(suffixIDs.count, max(0, nBatch / 4 - (2 + promptCount)))
        let extraTake = min(max(0, nCtx - nBatch - 2 * nPredict), extra.count)
        prefixIDs = [pre] + Array(prefixIDs.suffix(prefixTake))
        suffixIDs = [suf] + Array(suffixIDs.prefix(suffixTake))
        var head = spm ? suffixIDs : prefixIDs
        let tail = spm ? prefixIDs : suffixIDs
        if tokenizer.addsBOS, let bos = tokenizer.bos { head.insert(bos, at: 0) }
        return Array(extra.suffix(extraTake)) + head + tail + [mid]
    }

    /// num_batch from the request's options, else Ollama's default.
    static func batch(_ options: [(String, JSON)]?) -> Int {
        if case let .int(n)? = options?.last(where: { $0.0 == "num_batch" })?.1, n > 0 { return n }
        return defaultBatch
    }
}

extension PromptBuilder {
    /// The infill prompt for `prefix` and `suffix`; a 400 "… does not support insert" without FIM tokens.
    func infillTokens(prefix: String, suffix: String, settings: GenerationSettings, numCtx: Int, batch: Int,
                      modelName: String) throws(APIError) -> [Int] {
        let fim = FIMTokens(metadata: model.file.metadata)
        guard fim.supportsInfill else { throw .badRequest("\"\(modelName)\" does not support insert") }
        return Infill.tokens(prefix: prefix, suffix: suffix, fim: fim, tokenizer: model.tokenizer, nBatch: batch,
                             nPredict: settings.numPredict, nCtx: numCtx)
    }
}
