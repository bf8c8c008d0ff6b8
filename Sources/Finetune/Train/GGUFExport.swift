// GGUFExport: a trained model as an all-F32 GGUF file that Infer (`llmkit run`, `llmkit serve`), gguf-py and
// llama.cpp read. Tensors keep their GGUF names (the training contract already uses them); their dims are the
// row-major shape reversed (ggml lists the innermost dimension first). A tied output writes no output.weight
// (readers fall back to token_embd). Keys:
//
//   general.architecture, general.name, general.file_type = 0 (all F32)
//   gpt2:  gpt2.{context_length, embedding_length, feed_forward_length, block_count, attention.head_count,
//          attention.layer_norm_epsilon}                                   (what Infer's GPTModel reads)
//   llama: llama.{context_length, embedding_length, feed_forward_length, block_count, attention.head_count,
//          attention.head_count_kv, attention.layer_norm_rms_epsilon, rope.freq_base, rope.dimension_count,
//          vocab_size}                                                       (Infer's LlamaModel / llama.cpp)
//   then the tokenizer's tokenizer.ggml.* keys as given.

import Formats

public enum GGUFExport {
    /// The metadata of the export (architecture keys, then the tokenizer's).
    public static func metadata(config: ModelConfig, name: String, tokenizer: GGUFMetadata) -> GGUFMetadata {
        var md = GGUFMetadata()
        let a = config.architecture
        md["general.architecture"] = .string(a)
        md["general.name"] = .string(name)
        md["general.file_type"] = .uint32(0)
        md[a + ".context_length"] = .uint32(UInt32(config.contextLength))
        md[a + ".embedding_length"] = .uint32(UInt32(config.dim))
        md[a + ".feed_forward_length"] = .uint32(UInt32(config.ffnDim))
        md[a + ".block_count"] = .uint32(UInt32(config.layers))
        md[a + ".attention.head_count"] = .uint32(UInt32(config.heads))
        if a == "llama" {
            md["llama.attention.head_count_kv"] = .uint32(UInt32(config.kvHeads))
            md["llama.attention.layer_norm_rms_epsilon"] = .float32(config.normEps)
            md["llama.rope.freq_base"] = .float32(config.ropeTheta)
            md["llama.rope.dimension_count"] = .uint32(UInt32(config.dim / config.heads))
            md["llama.vocab_size"] = .uint32(UInt32(config.vocabularySize))
        } else {
            md["gpt2.attention.layer_norm_epsilon"] = .float32(config.normEps)
        }
        for (k, v) in tokenizer where !md.contains(k) { md[k] = v }
        return md
    }

    /// Writes `parameters` (F32) and the metadata to `path` atomically.
    public static func write(to path: String, config: ModelConfig, name: String, tokenizer: GGUFMetadata,
                             parameters: [Parameter]) throws {
        let specs = try parameters.map { try GGUFTensorSpec(name: $0.name, type: .f32, dims: Array($0.shape.reversed())) }
        let writer = try GGUFWriter(metadata: metadata(config: config, name: name, tokenizer: tokenizer), tensors: specs)
        try writer.write(to: path) { i, sink in
            try sink.write(UnsafeRawBufferPointer(UnsafeBufferPointer(parameters[i].value)))
        }
    }
}
