// The HF ⇄ llama.cpp mapping: the q/k permutation against the numpy reshape/swapaxes formula, name
// maps both ways, and Llama 3 rope factors (values and recovery of the parameters from them).
import Foundation
import Testing
@testable import Formats

@Suite struct LlamaHFTests {
    /// numpy: W.reshape(nHead, 2, D/2, cols).swapaxes(1, 2).reshape(W.shape), written out index by index.
    func numpyPermute(_ rows: Int, _ heads: Int) -> [Int] {
        let d = rows / heads
        var out: [Int] = []
        for h in 0..<heads { for i in 0..<(d / 2) { for j in 0..<2 { out.append(h * d + j * (d / 2) + i) } } }
        return out
    }

    @Test(arguments: [(8, 1), (8, 2), (12, 3), (576, 9), (192, 3), (4096, 32), (1024, 8)])
    func permutationMatchesNumpyAndInverts(rows: Int, heads: Int) {
        let want = numpyPermute(rows, heads)
        for o in 0..<rows {
            #expect(LlamaHF.hfRow(forGGUFRow: o, rows: rows, heads: heads) == want[o])
            #expect(LlamaHF.ggufRow(forHFRow: LlamaHF.hfRow(forGGUFRow: o, rows: rows, heads: heads), rows: rows, heads: heads) == o)
        }
    }

    @Test func namesMapBothWays() throws {
        let pairs = [("model.embed_tokens.weight", "token_embd.weight"), ("lm_head.weight", "output.weight"),
                     ("model.norm.weight", "output_norm.weight"),
                     ("model.layers.17.self_attn.k_proj.weight", "blk.17.attn_k.weight"),
                     ("model.layers.0.mlp.down_proj.weight", "blk.0.ffn_down.weight"),
                     ("model.layers.3.post_attention_layernorm.weight", "blk.3.ffn_norm.weight")]
        for (hf, g) in pairs {
            #expect(try LlamaHF.ggufName(hf, file: "x") == g)
            #expect(try LlamaHF.hfName(g, file: "x") == hf)
        }
        #expect(try LlamaHF.ggufName("model.layers.0.self_attn.rotary_emb.inv_freq", file: "x") == nil)
        #expect(throws: FormatError.self) { try LlamaHF.ggufName("model.vision_tower.w", file: "x") }
        #expect(throws: FormatError.self) { try LlamaHF.hfName("blk.x.attn_q.weight", file: "x") }
        #expect(LlamaHF.role(ofGGUF: "blk.2.attn_q.weight") == .q && LlamaHF.role(ofGGUF: "blk.2.attn_k.weight") == .k)
        #expect(LlamaHF.role(ofGGUF: "blk.2.attn_v.weight") == .other)
    }

    @Test func llama3RopeFactorsAndTheirRecovery() {
        let f = LlamaHF.llama3RopeFactors(base: 500_000, dim: 128, factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 8192)
        #expect(f.count == 64)
        #expect(f.first == 1 && f.last == 8)
        #expect(zip(f, f.dropFirst()).allSatisfy { $0 <= $1 })
        #expect(f.contains { $0 > 1 && $0 < 8 })
        let fit = LlamaHF.fitLlama3Scaling(factors: f, base: 500_000, dim: 128)
        #expect(fit == .llama3(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 8192))
        let f32 = LlamaHF.llama3RopeFactors(base: 500_000, dim: 64, factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 8192)
        #expect(LlamaHF.fitLlama3Scaling(factors: f32, base: 500_000, dim: 64) == .llama3(factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 8192))
        let odd = LlamaHF.llama3RopeFactors(base: 500_000, dim: 128, factor: 16, lowFreqFactor: 2, highFreqFactor: 8, originalContext: 8192)
        #expect(LlamaHF.fitLlama3Scaling(factors: odd, base: 500_000, dim: 128) == .llama3(factor: 16, lowFreqFactor: 2, highFreqFactor: 8, originalContext: 8192))
        #expect(LlamaHF.fitLlama3Scaling(factors: [Float](repeating: 1, count: 64), base: 500_000, dim: 128) == nil)
    }

    @Test func configValidation() throws {
        let dir = Paths.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func cfg(_ s: String) throws -> LlamaHyperparameters {
            try s.write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
            return try LlamaHyperparameters(configPath: dir + "/config.json")
        }
        let base = #""hidden_size":64,"intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4,"max_position_embeddings":256,"vocab_size":100"#
        let hp = try cfg("{\(base),\"num_key_value_heads\":2,\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8.0,\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,\"original_max_position_embeddings\":8192},\"tie_word_embeddings\":true,\"eos_token_id\":[1,2]}")
        #expect(hp.headDim == 16 && hp.kvHeadCount == 2 && hp.tieWordEmbeddings && hp.eosTokenIDs == [1, 2])
        #expect(hp.ropeScaling == .llama3(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 8192))
        #expect(throws: FormatError.self) { try cfg("{\(base),\"num_key_value_heads\":3}") }
        #expect(throws: FormatError.self) { try cfg("{\"hidden_size\":64}") }
        #expect(throws: FormatError.self) { try cfg("{\(base),\"architectures\":[\"MistralForCausalLM\"]}") }
        #expect(throws: FormatError.self) { try cfg("{\(base),\"hidden_size\":-4}") }
        #expect(throws: FormatError.self) { try cfg("[1]") }
        #expect(throws: FormatError.self) { try cfg("{\(base),\"rope_scaling\":{\"rope_type\":\"yarn\",\"factor\":4}}") }
    }
}
