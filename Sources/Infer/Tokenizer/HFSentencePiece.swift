// HFSentencePiece: a Hugging Face tokenizer.json of the SentencePiece kind (BPE with `byte_fallback`, `▁` for
// spaces: Llama 2, Mistral, TinyLlama) → the `tokenizer.ggml.*` keys of `tokenizer.ggml.model = llama`, so
// SPMTokenizer runs it. tokenizer.json keeps merges, not scores; a piece's score here is minus the rank of the
// first merge that makes it, which orders pieces as the merges do (Hugging Face's SentencePiece converter
// writes the merges in score order). Token types: `<0xXX>` byte, added special → control, other added →
// user-defined, the model's unk_token → unknown. BOS/EOS and add_bos/add_eos come from tokenizer_config.json
// or the TemplateProcessing post-processor; add_space_prefix from a Prepend("▁") normalizer or a Metaspace
// pre-tokenizer that prepends.
// Not here: byte-level BPE tokenizer.json files (Formats' HFTokenizer).

import Foundation
import Formats

enum HFSentencePiece {
    /// Whether `tj` (a parsed tokenizer.json) is of the SentencePiece kind.
    static func matches(_ tj: [String: Any]) -> Bool {
        guard let model = tj["model"] as? [String: Any] else { return false }
        return (model["type"] as? String ?? "BPE") == "BPE" && JSON.bool(model["byte_fallback"]) == true
    }

    static func ggufKeys(_ tj: [String: Any], directory dir: String, file: String) throws -> GGUFMetadata {
        guard let model = tj["model"] as? [String: Any], let vocab = model["vocab"] as? [String: Any] else {
            throw InferError.tokenizer("\(file): no model.vocab")
        }
        var byID: [Int: String] = [:]
        for (t, v) in vocab {
            guard let id = JSON.int(v), id >= 0, id < 10_000_000 else { throw InferError.tokenizer("\(file): bad id \(v) for '\(t)' in model.vocab") }
            byID[id] = t
        }
        var added: [Int: Bool] = [:]  // id → special
        for case let a as [String: Any] in (tj["added_tokens"] as? [Any]) ?? [] {
            guard let id = JSON.int(a["id"]), id >= 0, id < 10_000_000, let c = a["content"] as? String else { continue }
            byID[id] = c
            added[id] = JSON.bool(a["special"]) ?? false
        }
        guard let maxID = byID.keys.max() else { throw InferError.tokenizer("\(file): empty vocabulary") }
        let n = maxID + 1
        var idOf: [String: Int] = [:]
        for (i, t) in byID where idOf[t] == nil || i < idOf[t]! { idOf[t] = i }

        // Scores: minus the rank of the first merge producing the piece.
        var rank: [String: Int] = [:]
        for (r, m) in ((model["merges"] as? [Any]) ?? []).enumerated() {
            let pair: [String]
            if let s = m as? String, let sp = s.firstIndex(of: " ") {
                pair = [String(s[..<sp]), String(s[s.index(after: sp)...])]
            } else if let a = m as? [Any], a.count == 2, let l = a[0] as? String, let rr = a[1] as? String {
                pair = [l, rr]
            } else {
                throw InferError.tokenizer("\(file): unknown merges format at \(r)")
            }
            let t = pair[0] + pair[1]
            if rank[t] == nil { rank[t] = r }
        }
        let unk = (model["unk_token"] as? String).flatMap { idOf[$0] }
        var tokens: [String] = [], scores: [Float] = [], types: [Int32] = []
        tokens.reserveCapacity(n)
        for i in 0..<n {
            guard let t = byID[i] else {
                tokens.append("[PAD\(i)]"); scores.append(0); types.append(GGUFTokenType.unused.rawValue)
                continue
            }
            tokens.append(t)
            scores.append(rank[t].map { -Float($0) } ?? 0)
            if let special = added[i] {
                types.append((special ? GGUFTokenType.control : .userDefined).rawValue)
            } else if i == unk {
                types.append(GGUFTokenType.unknown.rawValue)
            } else if t.utf8.count == 6 && t.hasPrefix("<0x") && t.hasSuffix(">") && UInt8(t.dropFirst(3).prefix(2), radix: 16) != nil {
                types.append(GGUFTokenType.byte.rawValue)
            } else {
                types.append(GGUFTokenType.normal.rawValue)
            }
        }

        var md = GGUFMetadata()
        md["tokenizer.ggml.model"] = .string("llama")
        md["tokenizer.ggml.tokens"] = .strings(tokens)
        md["tokenizer.ggml.scores"] = .float32s(scores)
        md["tokenizer.ggml.token_type"] = .int32s(types)
        if let unk { md["tokenizer.ggml.unknown_token_id"] = .uint32(UInt32(unk)) }

        // BOS/EOS: tokenizer_config.json names them; the post-processor's template says which are added.
        let cfg = ((try? JSON.parseFile(dir + "/tokenizer_config.json")) as? [String: Any]) ?? [:]
        func content(_ v: Any?) -> String? { (v as? String) ?? ((v as? [String: Any])?["content"] as? String) }
        var bos = content(cfg["bos_token"]).flatMap { idOf[$0] }, eos = content(cfg["eos_token"]).flatMap { idOf[$0] }
        var addBOS = false, addEOS = false
        if let pp = tj["post_processor"] as? [String: Any] {
            for case let p as [String: Any] in (pp["processors"] as? [Any]) ?? [pp] where p["type"] as? String == "TemplateProcessing" {
                let single = (p["single"] as? [Any]) ?? []
                func special(_ e: Any?) -> Int? { (((e as? [String: Any])?["SpecialToken"] as? [String: Any])?["id"] as? String).flatMap { idOf[$0] } }
                if single.count > 1, let b = special(single.first) { addBOS = true; bos = bos ?? b }
                if single.count > 1, let e = special(single.last) { addEOS = true; eos = eos ?? e }
            }
        }
        if let b = JSON.bool(cfg["add_bos_token"]) { addBOS = b }
        if let b = JSON.bool(cfg["add_eos_token"]) { addEOS = b }
        if let bos { md["tokenizer.ggml.bos_token_id"] = .uint32(UInt32(bos)) }
        if let eos { md["tokenizer.ggml.eos_token_id"] = .uint32(UInt32(eos)) }
        md["tokenizer.ggml.add_bos_token"] = .bool(addBOS)
        md["tokenizer.ggml.add_eos_token"] = .bool(addEOS)

        // add_space_prefix: a Prepend("▁") normalizer, or a Metaspace pre-tokenizer that prepends.
        var prefix = false
        if let norm = tj["normalizer"] as? [String: Any] {
            for case let m as [String: Any] in (norm["normalizers"] as? [Any]) ?? [norm] where m["type"] as? String == "Prepend" {
                if m["prepend"] as? String == "▁" { prefix = true }
            }
        }
        if let pre = tj["pre_tokenizer"] as? [String: Any] {
            for case let m as [String: Any] in (pre["pretokenizers"] as? [Any]) ?? [pre] where m["type"] as? String == "Metaspace" {
                let scheme = m["prepend_scheme"] as? String
                if scheme == "always" || scheme == "first" || (scheme == nil && JSON.bool(m["add_prefix_space"]) == true) { prefix = true }
            }
        }
        md["tokenizer.ggml.add_space_prefix"] = .bool(prefix)
        return md
    }
}
