// TestCheckpoint: random-weight Hugging Face Llama folders of any shape, written by streaming, for tests
// and scale benchmarks (a Llama-3.1-8B-shaped bf16 checkpoint is ~16 GB and never sits in memory).
// Weights are deterministic for a seed: uniform in ±0.02·√3 (std 0.02); norms near 1.

import Dispatch
import Foundation
import Formats

public struct CheckpointShape: Sendable {
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var layers: Int
    public var heads: Int
    public var kvHeads: Int
    public var vocabSize: Int
    public var contextLength: Int
    public var ropeTheta: Double
    /// Llama 3.1 rope scaling (factor, low, high, original context), or none.
    public var llama3Scaling: (factor: Double, low: Double, high: Double, original: Int)?
    public var tieEmbeddings: Bool
    public var headDim: Int? = nil

    /// Llama 3.1 8B: the real hyperparameters.
    public static let llama3_8b = CheckpointShape(
        hiddenSize: 4096, intermediateSize: 14336, layers: 32, heads: 32, kvHeads: 8, vocabSize: 128_256,
        contextLength: 131_072, ropeTheta: 500_000, llama3Scaling: (8, 1, 4, 8192), tieEmbeddings: false)
    /// Llama 3.2 1B.
    public static let llama3_1b = CheckpointShape(
        hiddenSize: 2048, intermediateSize: 8192, layers: 16, heads: 32, kvHeads: 8, vocabSize: 128_256,
        contextLength: 131_072, ropeTheta: 500_000, llama3Scaling: (32, 1, 4, 8192), tieEmbeddings: true, headDim: 64)
    /// A tiny Llama 3 (real vocabulary and rope scaling, 2 layers of 64 dims): fast tests.
    public static let llama3_tiny = CheckpointShape(
        hiddenSize: 64, intermediateSize: 192, layers: 2, heads: 4, kvHeads: 2, vocabSize: 128_256,
        contextLength: 131_072, ropeTheta: 500_000, llama3Scaling: (8, 1, 4, 8192), tieEmbeddings: false)

    public static let named: [String: CheckpointShape] = ["llama3-8b": llama3_8b, "llama3-1b": llama3_1b, "llama3-tiny": llama3_tiny]

    var dim: Int { headDim ?? hiddenSize / heads }
}

public enum TestCheckpoint {
    /// Llama 3 Instruct's chat template (from Meta-Llama-3-8B-Instruct's tokenizer_config.json).
    public static let llama3ChatTemplate =
        "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"

    /// The tensors of a Llama of this shape, in HF names and numpy shapes.
    public static func tensors(_ s: CheckpointShape, dtype: FloatType) -> [SafetensorsTensorSpec] {
        let h = s.hiddenSize, d = s.dim, st = dtype.safetensors
        var t = [SafetensorsTensorSpec(name: "model.embed_tokens.weight", dtype: st, shape: [s.vocabSize, h])]
        for i in 0..<s.layers {
            let p = "model.layers.\(i)."
            t += [
                .init(name: p + "input_layernorm.weight", dtype: st, shape: [h]),
                .init(name: p + "self_attn.q_proj.weight", dtype: st, shape: [s.heads * d, h]),
                .init(name: p + "self_attn.k_proj.weight", dtype: st, shape: [s.kvHeads * d, h]),
                .init(name: p + "self_attn.v_proj.weight", dtype: st, shape: [s.kvHeads * d, h]),
                .init(name: p + "self_attn.o_proj.weight", dtype: st, shape: [h, s.heads * d]),
                .init(name: p + "post_attention_layernorm.weight", dtype: st, shape: [h]),
                .init(name: p + "mlp.gate_proj.weight", dtype: st, shape: [s.intermediateSize, h]),
                .init(name: p + "mlp.up_proj.weight", dtype: st, shape: [s.intermediateSize, h]),
                .init(name: p + "mlp.down_proj.weight", dtype: st, shape: [h, s.intermediateSize]),
            ]
        }
        t.append(.init(name: "model.norm.weight", dtype: st, shape: [h]))
        if !s.tieEmbeddings { t.append(.init(name: "lm_head.weight", dtype: st, shape: [s.vocabSize, h])) }
        return t
    }

    /// Writes a complete HF folder: config.json, generation_config.json, safetensors (sharded past
    /// `maxShardBytes`), and the tokenizer files when `tokenizerJSON` (a tokenizer.json path) is given.
    public static func write(_ s: CheckpointShape, to dir: String, dtype: FloatType = .bf16, seed: UInt64 = 0,
                             tokenizerJSON: String? = nil, maxShardBytes: Int = 5_000_000_000,
                             threads: Int = Convert.defaultThreads, log: (String) -> Void = { _ in }) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let specs = tensors(s, dtype: dtype)
        var done = 0
        try SafetensorsWriter.writeCheckpoint(directory: dir, tensors: specs, maxShardBytes: maxShardBytes,
                                              progress: { i in done += 1; log("[\(done)/\(specs.count)] \(specs[i].name) \(specs[i].shape)") },
                                              producer: { i, sink in
            let isNorm = specs[i].shape.count == 1
            try fill(sink, dtype: dtype, seed: seed &+ UInt64(i) &* 0x9E37_79B9_7F4A_7C15, norm: isNorm, threads: threads)
        })
        var rope: JSON = .null
        if let r = s.llama3Scaling {
            rope = .object([("factor", .double(r.factor)), ("high_freq_factor", .double(r.high)), ("low_freq_factor", .double(r.low)),
                            ("original_max_position_embeddings", .int(r.original)), ("rope_type", .string("llama3"))])
        }
        var cfg: [(String, JSON)] = [
            ("architectures", .array([.string("LlamaForCausalLM")])),
            ("attention_bias", .bool(false)), ("attention_dropout", .double(0)),
            ("bos_token_id", .int(128_000)), ("eos_token_id", .array([.int(128_001), .int(128_008), .int(128_009)])),
        ]
        if let hd = s.headDim { cfg.append(("head_dim", .int(hd))) }
        cfg += [
            ("hidden_act", .string("silu")), ("hidden_size", .int(s.hiddenSize)), ("initializer_range", .double(0.02)),
            ("intermediate_size", .int(s.intermediateSize)), ("max_position_embeddings", .int(s.contextLength)),
            ("mlp_bias", .bool(false)), ("model_type", .string("llama")), ("num_attention_heads", .int(s.heads)),
            ("num_hidden_layers", .int(s.layers)), ("num_key_value_heads", .int(s.kvHeads)), ("pretraining_tp", .int(1)),
            ("rms_norm_eps", .double(1e-5)), ("rope_scaling", rope), ("rope_theta", .double(s.ropeTheta)),
            ("tie_word_embeddings", .bool(s.tieEmbeddings)), ("torch_dtype", .string(dtype.torchName)),
            ("transformers_version", .string("4.43.0")), ("use_cache", .bool(true)), ("vocab_size", .int(s.vocabSize)),
        ]
        let write = { (name: String, j: JSON) in try AtomicOutput.write(Array((j.serialized(indent: 2) + "\n").utf8), to: dir + "/" + name) }
        try write("config.json", .object(cfg))
        try write("generation_config.json", .object([
            ("bos_token_id", .int(128_000)), ("do_sample", .bool(true)),
            ("eos_token_id", .array([.int(128_001), .int(128_008), .int(128_009)])),
            ("temperature", .double(0.6)), ("top_p", .double(0.9)), ("transformers_version", .string("4.43.0")),
        ]))
        if let tokenizerJSON {
            guard let data = FileManager.default.contents(atPath: tokenizerJSON) else {
                throw FormatError.io(path: tokenizerJSON, operation: "read", message: "cannot read tokenizer.json")
            }
            try AtomicOutput.write(Array(data), to: dir + "/tokenizer.json")
            try write("tokenizer_config.json", .object([
                ("bos_token", .string("<|begin_of_text|>")), ("chat_template", .string(llama3ChatTemplate)),
                ("clean_up_tokenization_spaces", .bool(true)), ("eos_token", .string("<|eot_id|>")),
                ("model_input_names", .array([.string("input_ids"), .string("attention_mask")])),
                ("model_max_length", .int(s.contextLength)), ("tokenizer_class", .string("PreTrainedTokenizerFast")),
            ]))
        }
    }

    /// Streams random values into a tensor, in blocks generated in parallel (deterministic per block).
    static func fill(_ sink: TensorSink, dtype: FloatType, seed: UInt64, norm: Bool, threads: Int) throws {
        let a: Float = norm ? 0.1 : 0.02 * 3.0.squareRoot().float
        let center: Float = norm ? 1 : 0
        var block: UInt64 = 0
        while sink.remaining > 0 {
            let buf = try sink.reserve(8 << 20)
            let n = buf.count / dtype.size
            let t = max(1, min(threads, n / 65536))
            let base = UncheckedBox(buf.baseAddress!)
            let blockSeed = seed ^ (block &* 0xD1B5_4A32_D192_ED03)
            try Parallel.run(t) { w in
                let lo = w * n / t, hi = (w + 1) * n / t
                var x = (blockSeed ^ UInt64(w + 1) &* 0x2545_F491_4F6C_DD1D) | 1
                var tmp = [Float](repeating: 0, count: 1024)
                var i = lo
                try tmp.withUnsafeMutableBufferPointer { tb in
                    while i < hi {
                        let m = min(1024, hi - i)
                        for j in 0..<m {
                            x ^= x >> 12; x ^= x << 25; x ^= x >> 27   // xorshift64*
                            let r = (x &* 0x2545_F491_4F6C_DD1D) >> 40  // 24 random bits
                            tb[j] = center + a * (Float(r) * (2.0 / 16_777_216.0) - 1)
                        }
                        try Quantize.row(dtype.ggml, tb.baseAddress!, base.value + i * dtype.size, m)
                        i += m
                    }
                }
            }
            sink.commit(count: n * dtype.size)
            block += 1
        }
    }
}

extension Double { var float: Float { Float(self) } }
