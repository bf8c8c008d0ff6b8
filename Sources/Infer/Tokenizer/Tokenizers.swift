// Tokenizers: builds the right Tokenizer for a model — from GGUF metadata by `tokenizer.ggml.model`
// (`gpt2` → byte-level BPE, `llama` → SentencePiece-style BPE, `char` → one token per character), or from a
// Hugging Face tokenizer.json, which is first turned into the same `tokenizer.ggml.*` keys llama.cpp's
// converter writes (Formats' HFTokenizer for byte-level BPE, HFSentencePiece for byte_fallback BPE), so a
// tokenizer.json and the GGUF made from it tokenize alike.

import Foundation
import Formats

public enum Tokenizers {
    /// The tokenizer described by a GGUF file's `tokenizer.ggml.*` keys.
    public static func load(metadata md: GGUFMetadata) throws -> any Tokenizer {
        guard let mv = md["tokenizer.ggml.model"] else { throw InferError.tokenizer("no tokenizer.ggml.model in the metadata") }
        guard let model = mv.string else { throw InferError.tokenizer("tokenizer.ggml.model must be a string (is \(mv.type))") }
        switch model {
        case "gpt2": return try BPETokenizer(metadata: md)
        case "llama": return try SPMTokenizer(metadata: md)
        case "char": return try CharTokenizer(metadata: md)
        default: throw InferError.tokenizer("unsupported tokenizer.ggml.model '\(model)' (supported: gpt2, llama, char)")
        }
    }

    /// The tokenizer of a Hugging Face `tokenizer.json` (a path to the file or to the folder holding it;
    /// tokenizer_config.json beside it supplies BOS/EOS and add_bos/add_eos, as for llama.cpp's converter).
    public static func load(tokenizerJSON path: String) throws -> any Tokenizer {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw InferError.tokenizer("\(path): no such file or folder")
        }
        let dir: String
        if isDir.boolValue {
            dir = path
        } else {
            guard (path as NSString).lastPathComponent == "tokenizer.json" else {
                throw InferError.tokenizer("\(path): expected a file named tokenizer.json or a folder holding one")
            }
            dir = (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
        }
        let file = dir + "/tokenizer.json"
        guard FileManager.default.fileExists(atPath: file) else { throw InferError.tokenizer("\(dir): no tokenizer.json") }
        do {
            // The vocabulary size the keys are padded to: one past the largest id.
            guard let tj = try JSON.parseFile(file) as? [String: Any], let model = tj["model"] as? [String: Any] else {
                throw InferError.tokenizer("\(file): not a tokenizer.json (no \"model\" object)")
            }
            let type = model["type"] as? String ?? "BPE"
            guard type == "BPE" else { throw InferError.tokenizer("\(file): tokenizer model \(type) is not supported (BPE only)") }
            if HFSentencePiece.matches(tj) { return try load(metadata: HFSentencePiece.ggufKeys(tj, directory: dir, file: file)) }
            var maxID = -1
            for v in (model["vocab"] as? [String: Any] ?? [:]).values { maxID = max(maxID, JSON.int(v) ?? -1) }
            for case let a as [String: Any] in (tj["added_tokens"] as? [Any]) ?? [] { maxID = max(maxID, JSON.int(a["id"]) ?? -1) }
            guard maxID >= 0 else { throw InferError.tokenizer("\(file): empty vocabulary") }
            var md = GGUFMetadata()
            for (k, v) in try HFTokenizer.ggufKeys(directory: dir, vocabSize: maxID + 1, warn: { _ in }) { md[k] = v }
            // Hugging Face adds BOS/EOS only when the post-processor or tokenizer_config says so; llama.cpp's
            // per-pre-tokenizer default (Llama 3: add BOS) applies to GGUF files, not here.
            if md["tokenizer.ggml.add_bos_token"] == nil { md["tokenizer.ggml.add_bos_token"] = .bool(false) }
            if md["tokenizer.ggml.add_eos_token"] == nil { md["tokenizer.ggml.add_eos_token"] = .bool(false) }
            return try BPETokenizer(metadata: md, defaultSpecialIDs: false)
        } catch let e as FormatError {
            throw InferError.tokenizer(e.description)
        }
    }

    /// The tokenizer of a model path as the CLI takes it: a GGUF file, a tokenizer.json, or a Hugging Face folder.
    public static func load(path: String) throws -> any Tokenizer {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw InferError.tokenizer("\(path): no such file or folder")
        }
        if isDir.boolValue || path.hasSuffix(".json") { return try load(tokenizerJSON: path) }
        do {
            let g = try GGUFFile(path: path)
            do {
                return try load(metadata: g.metadata)
            } catch let InferError.tokenizer(m) {
                throw InferError.tokenizer("\(path): \(m)")
            }
        } catch let e as FormatError {
            throw InferError.tokenizer(e.description)
        }
    }
}
