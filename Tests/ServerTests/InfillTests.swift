// Fill-in-the-middle (Infill.swift): FIM token ids as llama-vocab.cpp finds them (GGUF keys, deprecated keys, token
// texts) and llama.cpp's format_infill layout on the real SmolLM2 tokenizer — repo/file extras, prefix cut to 3/4 of
// the batch from the end, suffix to 1/4 − 2 from the start, extras limited by n_ctx − n_batch − 2·n_predict, SPM order.

import Formats
import Foundation
import Infer
import Testing
@testable import Server

@Suite struct InfillTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let smollm2 = root.appendingPathComponent(".assets/SmolLM2-135M-Instruct.Q4_1.gguf").path

    func ids(_ pairs: [String: Int]) -> [Int?] { FIMTokens.keys.map { pairs[$0.0] } }

    @Test func keysThenTokenTexts() {
        let tokens = ["<s>", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>", "x"]
        #expect(FIMTokens(ids: ids([:]), tokens: tokens) == FIMTokens(pre: 1, suf: 2, mid: 3, pad: 4, rep: 5, sep: 6))
        // A key wins over the texts; an id outside the vocabulary is ignored (llama.cpp: "bad special token").
        let k = FIMTokens(ids: ids(["tokenizer.ggml.fim_pre_token_id": 7, "tokenizer.ggml.fim_mid_token_id": 99]), tokens: tokens)
        #expect(k.pre == 7 && k.mid == 3)
        // The deprecated keys come last in llama.cpp's list and so win.
        let d = FIMTokens(ids: ids(["tokenizer.ggml.fim_suf_token_id": 0, "tokenizer.ggml.suffix_token_id": 7]), tokens: tokens)
        #expect(d.suf == 7)
        // Other families' texts.
        let codellama = FIMTokens(ids: ids([:]), tokens: ["▁<PRE>", "▁<SUF>", "▁<MID>", "<EOT>"])
        #expect(codellama.supportsInfill && codellama.pre == 0 && codellama.mid == 2)
        let deepseek = FIMTokens(ids: ids([:]), tokens: ["<｜fim▁hole｜>", "<｜fim▁begin｜>", "<｜fim▁end｜>"])
        #expect(deepseek == FIMTokens(pre: 1, suf: 0, mid: 2))
        let starcoder = FIMTokens(ids: ids([:]), tokens: ["<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>", "<reponame>"])
        #expect(starcoder == FIMTokens(pre: 0, suf: 2, mid: 1, pad: 3, rep: 4))
        #expect(!FIMTokens(ids: ids([:]), tokens: ["<PRE>", "<SUF>"]).supportsInfill)
    }

    @Test func smollm2HasNoInfillTokens() throws {
        let file = try GGUFFile(path: Self.smollm2)
        let fim = FIMTokens(metadata: file.metadata)
        #expect(!fim.supportsInfill)
        #expect(fim.rep == 4)  // "<reponame>", as llama.cpp finds it (it then ends generation there too)
        var md = file.metadata
        md["tokenizer.ggml.fim_pre_token_id"] = .uint32(6)
        md["tokenizer.ggml.fim_suf_token_id"] = .uint32(7)
        md["tokenizer.ggml.fim_mid_token_id"] = .uint32(8)
        #expect(FIMTokens(metadata: md) == FIMTokens(pre: 6, suf: 7, mid: 8, rep: 4))
    }

    @Test func layoutOnSmolLM2() throws {
        let tok = try Tokenizers.load(path: Self.smollm2)
        #expect(!tok.addsBOS)
        func t(_ s: String) -> [Int] { tok.encode(s, addSpecial: false, parseSpecial: false) }
        let fim = FIMTokens(pre: 6, suf: 7, mid: 8, rep: 4, sep: 5)
        let prefix = "def add(a, b):\n    return", suffix = "\n\nprint(add(1, 2))\n"
        let extra: [Int] = [4] + t("myproject\n") + [5] + t("filename\n")
        let got = Infill.tokens(prefix: prefix, suffix: suffix, fim: fim, tokenizer: tok, nBatch: 512, nPredict: -1, nCtx: 4096)
        let psm: [Int] = [6] + t(prefix) + [7] + t(suffix) + [8]
        #expect(got == extra + psm)
        // Special-looking text is tokenized as text (parse_special false).
        let s = Infill.tokens(prefix: "<|im_start|>", suffix: "", fim: fim, tokenizer: tok, nBatch: 512, nPredict: -1, nCtx: 4096)
        #expect(!s.contains(1) && s.suffix(2) == [7, 8])
        // SPM order: suffix first.
        let spm = Infill.tokens(prefix: prefix, suffix: suffix, fim: fim, tokenizer: tok, nBatch: 512, nPredict: -1, nCtx: 4096, spm: true)
        let smp: [Int] = [7] + t(suffix) + [6] + t(prefix) + [8]
        #expect(spm == extra + smp)
        // Without rep/sep tokens there are no extras.
        let bare = Infill.tokens(prefix: prefix, suffix: suffix, fim: FIMTokens(pre: 6, suf: 7, mid: 8), tokenizer: tok,
                                 nBatch: 512, nPredict: -1, nCtx: 4096)
        #expect(bare == psm)
    }

    @Test func cutsToTheBatch() throws {
        let tok = try Tokenizers.load(path: Self.smollm2)
        func t(_ s: String) -> [Int] { tok.encode(s, addSpecial: false, parseSpecial: false) }
        let fim = FIMTokens(pre: 6, suf: 7, mid: 8, rep: 4)
        let prefix = (0..<300).map { "line \($0)\n" }.joined(), suffix = (300..<600).map { "line \($0)\n" }.joined()
        let p = t(prefix), s = t(suffix), extra: [Int] = [4] + t("myproject\n")
        #expect(p.count > 96 && s.count > 30)
        // n_batch 128: the last 96 prefix tokens, the first 32 − 2 = 30 suffix tokens.
        let body: [Int] = [6] + Array(p.suffix(96)) + [7] + Array(s.prefix(30)) + [8]
        let got = Infill.tokens(prefix: prefix, suffix: suffix, fim: fim, tokenizer: tok, nBatch: 128, nPredict: 100, nCtx: 2048)
        #expect(got == extra + body)
        // The extras take what n_ctx − n_batch − 2·n_predict leaves, from their end: here 2 tokens, then none.
        let two = Infill.tokens(prefix: prefix, suffix: suffix, fim: fim, tokenizer: tok, nBatch: 128, nPredict: 100, nCtx: 330)
        let lastTwo = Array(extra.suffix(2))
        #expect(two == lastTwo + body)
        let none = Infill.tokens(prefix: prefix, suffix: suffix, fim: fim, tokenizer: tok, nBatch: 128, nPredict: 100, nCtx: 300)
        #expect(none == body)
        // A batch under 12 leaves no room for the suffix.
        let tiny = Infill.tokens(prefix: "a b c d e f g h", suffix: "x", fim: fim, tokenizer: tok, nBatch: 8, nPredict: 1, nCtx: 64)
        #expect(tiny.suffix(2) == [7, 8] && tiny.contains(6))
    }

    @Test func numBatchOption() {
        #expect(Infill.batch(nil) == 512)
        #expect(Infill.batch([("num_batch", .int(64))]) == 64)
        #expect(Infill.batch([("num_batch", .int(0))]) == 512)
    }
}
