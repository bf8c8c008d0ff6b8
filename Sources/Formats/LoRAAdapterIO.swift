// LoRAAdapterIO: LoRAAdapter in and out of the two files the world uses — PEFT's folder and llama.cpp's GGUF LoRA —
// and the checks llama.cpp's loader makes of an adapter against its base.
//
// PEFT (huggingface/peft save_pretrained):
//   adapter_config.json         peft_type LORA, r, lora_alpha, target_modules, use_rslora, rank_pattern, alpha_pattern …
//   adapter_model.safetensors   base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight   (r, in)
//                               base_model.model.model.layers.N.self_attn.q_proj.lora_B.weight   (out, r)
//   B's rows are in Hugging Face order: for q_proj / k_proj they are permuted into the GGUF order on read
//   (LlamaHF.hfRow, heads for q, kvHeads for k) and back on write. A is never permuted.
//   Read accepts `.default` in keys (PEFT's in-memory names), F32/F16/BF16 tensors, per-module rank/alpha.
//
// GGUF LoRA (llama.cpp convert_lora_to_gguf.py; loader src/llama-adapter.cpp):
//   general.type = "adapter", general.architecture, adapter.type = "lora", adapter.lora.alpha (f32)
//   <base>.lora_a  ggml dims [in, r]     <base>.lora_b  ggml dims [r, out]      (F32 written; F16/BF16/Q8_0 read)
//   llama.cpp scales every pair by alpha / r with r = lora_b.ne[0] (alpha 0: scale 1), so a pair whose scale differs
//   (rsLoRA, a per-pair alpha) is written with that factor folded into B: the file computes the same ΔW.
//
// Formats sits below Quant, so the few element decoders a reader needs (F16, BF16, Q8_0) are written out here.
import Foundation

extension LoRAAdapter {
    public static let peftConfigName = "adapter_config.json"
    public static let peftWeightsName = "adapter_model.safetensors"

    // MARK: - reading

    /// Reads an adapter: a PEFT folder, its `adapter_model.safetensors` (with `adapter_config.json` beside it), or a
    /// GGUF LoRA file. `heads` / `kvHeads` are the base's (for the q/k row order of a PEFT file; unused for GGUF).
    public static func read(path: String, heads: Int, kvHeads: Int) throws -> LoRAAdapter {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw FormatError.io(path: path, operation: "open", message: "no such file or directory")
        }
        if isDir.boolValue {
            let weights = path + "/" + peftWeightsName
            if !FileManager.default.fileExists(atPath: weights) {
                if FileManager.default.fileExists(atPath: path + "/adapter_model.bin") {
                    throw pickleError(path + "/adapter_model.bin")
                }
                throw FormatError.missing(file: path, field: peftWeightsName + " (a PEFT adapter folder holds it and " + peftConfigName + ")")
            }
            return try readPEFT(config: path + "/" + peftConfigName, weights: weights, heads: heads, kvHeads: kvHeads)
        }
        if path.hasSuffix(".bin") { throw pickleError(path) }
        let file = try MappedFile(path: path)
        if file.count >= 4, file.base.loadUnaligned(as: UInt32.self) == GGUFFile.magic {
            return try readGGUF(try GGUFFile(file))
        }
        let dir = (path as NSString).deletingLastPathComponent
        let base = (path as NSString).lastPathComponent
        if base == peftConfigName {
            return try readPEFT(config: path, weights: (dir.isEmpty ? "." : dir) + "/" + peftWeightsName, heads: heads, kvHeads: kvHeads)
        }
        return try readPEFT(config: (dir.isEmpty ? "." : dir) + "/" + peftConfigName, weights: path, heads: heads, kvHeads: kvHeads)
    }

    /// Reads an adapter with the head counts (and architecture) taken from its base model.
    public static func read(path: String, base: GGUFFile) throws -> LoRAAdapter {
        let (h, kv) = try headCounts(base)
        return try read(path: path, heads: h, kvHeads: kv)
    }

    /// The base's attention head counts (`<arch>.attention.head_count` / `head_count_kv`, which defaults to heads).
    public static func headCounts(_ base: GGUFFile) throws -> (heads: Int, kvHeads: Int) {
        let arch = base.metadata["general.architecture"]?.string ?? "llama"
        guard let h = base.metadata["\(arch).attention.head_count"]?.int, h > 0 else {
            throw FormatError.missing(file: base.path, field: "\(arch).attention.head_count")
        }
        let kv = base.metadata["\(arch).attention.head_count_kv"]?.int ?? h
        guard kv > 0 else { throw FormatError.invalid(file: base.path, field: "\(arch).attention.head_count_kv", value: String(kv), reason: "must be positive") }
        return (h, kv)
    }

    static func pickleError(_ path: String) -> FormatError {
        .unsupported(file: path, what: "adapter_model.bin is a PyTorch pickle, which llmkit does not read; save the adapter with safetensors (PEFT's default, save_pretrained(safe_serialization=True))")
    }

    /// A PEFT adapter from its two files (the server gets them as separately named blobs).
    public static func readPEFT(config configPath: String, weights weightsPath: String, heads: Int, kvHeads: Int) throws -> LoRAAdapter {
        guard FileManager.default.fileExists(atPath: configPath) else {
            throw FormatError.missing(file: configPath, field: "file (a PEFT adapter needs adapter_config.json beside adapter_model.safetensors)")
        }
        let config = try PEFTConfig(path: configPath)
        let st = try SafetensorsFile(path: weightsPath)
        let file = weightsPath

        // Group the tensors by the GGUF name of the base matrix they adapt.
        var halves: [String: (module: String, a: SafetensorsTensor?, b: SafetensorsTensor?)] = [:]
        for t in st.tensors {
            let (module, isA) = try peftModule(t.name, file: file)
            let (layer, short) = try ggufTarget(module: module, key: t.name, file: file)
            let key = "blk.\(layer).\(short).weight"
            var e = halves[key] ?? (module, nil, nil)
            if isA {
                guard e.a == nil else { throw FormatError.invalid(file: file, field: "tensor", value: t.name, reason: "a second lora_A for \(module)") }
                e.a = t
            } else {
                guard e.b == nil else { throw FormatError.invalid(file: file, field: "tensor", value: t.name, reason: "a second lora_B for \(module)") }
                e.b = t
            }
            halves[key] = e
        }
        guard !halves.isEmpty else { throw FormatError.missing(file: file, field: "LoRA tensors (lora_A / lora_B)") }

        var pairs: [String: Pair] = [:]
        for (key, e) in halves {
            guard let ta = e.a, let tb = e.b else {
                throw FormatError.missing(file: file, field: "\(e.a == nil ? "lora_A" : "lora_B") of \(e.module) (both halves are needed)")
            }
            guard ta.shape.count == 2, tb.shape.count == 2, ta.shape[0] == tb.shape[1], ta.shape[0] > 0 else {
                throw FormatError.invalid(file: file, field: "\(e.module) shapes", value: "lora_A \(ta.shape), lora_B \(tb.shape)",
                                          reason: "need lora_A (r, in) and lora_B (out, r) with the same r")
            }
            let rank = ta.shape[0], inF = ta.shape[1], outF = tb.shape[0]
            let wantRank = config.rank(for: e.module)
            guard rank == wantRank else {
                throw FormatError.invalid(file: file, field: "\(e.module) rank", value: String(rank),
                                          reason: "adapter_config.json gives this module r = \(wantRank)")
            }
            let a = try floats(st, ta)
            var b = try floats(st, tb)
            let role = LlamaHF.role(ofGGUF: key)
            if role != .other {
                b = try permuteRows(b, rows: outF, cols: rank, heads: role == .q ? heads : kvHeads, toGGUF: true, what: "\(file): \(e.module)")
            }
            let alpha = config.alpha(for: e.module)
            pairs[key] = Pair(rank: rank, inFeatures: inF, outFeatures: outF, a: a, b: b, alpha: alpha == config.alpha ? nil : alpha)
        }
        return LoRAAdapter(pairs: pairs, alpha: config.alpha, useRSLoRA: config.useRSLoRA, architecture: "llama",
                           baseModel: config.baseModel, dropout: config.dropout)
    }

    /// `base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight` (or with `.default`) → the module name
    /// `model.layers.3.self_attn.q_proj` and whether it is A. Anything that is not a LoRA A/B weight is an error.
    static func peftModule(_ key: String, file: String) throws -> (module: String, isA: Bool) {
        var parts = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        if parts.count > 2, parts[0] == "base_model", parts[1] == "model" { parts.removeFirst(2) }
        parts.removeAll { $0 == "default" }
        if parts.contains("lora_magnitude_vector") {
            throw FormatError.unsupported(file: file, what: "DoRA adapters (\(key)); llmkit applies plain LoRA only")
        }
        if parts.contains(where: { $0.hasPrefix("lora_embedding_") }) {
            throw FormatError.unsupported(file: file, what: "LoRA on embeddings (\(key))")
        }
        guard parts.count >= 3, parts.last == "weight" || parts.last == "bias", ["lora_A", "lora_B"].contains(parts[parts.count - 2]) else {
            throw FormatError.unsupported(file: file, what: "tensor \(key) is not a LoRA lora_A/lora_B weight (modules_to_save and other PEFT extras are not supported)")
        }
        if parts.last == "bias" { throw FormatError.unsupported(file: file, what: "LoRA bias (\(key)); only lora_bias = false adapters are supported") }
        return (parts.dropLast(2).joined(separator: "."), parts[parts.count - 2] == "lora_A")
    }

    /// `model.layers.3.self_attn.q_proj` → (3, "attn_q").
    static func ggufTarget(module: String, key: String, file: String) throws -> (Int, String) {
        let p = module.split(separator: ".").map(String.init)
        if p.count == 5, p[0] == "model", p[1] == "layers", let n = Int(p[2]), n >= 0, p[3] == "self_attn" || p[3] == "mlp",
           let m = LoRATargets.moduleToGGUF.first(where: { $0.peft == p[4] }),
           (p[3] == "self_attn") == m.gguf.hasPrefix("attn_") {
            return (n, m.gguf)
        }
        throw FormatError.unsupported(file: file, what: "LoRA on module \(module) (\(key)): llmkit maps q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj of model.layers.N")
    }

    /// A GGUF LoRA adapter, validated as llama.cpp's loader does (what can be checked without the base).
    public static func readGGUF(_ g: GGUFFile) throws -> LoRAAdapter {
        let md = g.metadata, file = g.path
        let type = md["general.type"]?.string ?? ""
        guard type == "adapter" else {
            throw FormatError.invalid(file: file, field: "general.type", value: type.isEmpty ? "<none>" : type, reason: "expect general.type to be 'adapter', but got: \(type)")
        }
        let adapterType = md["adapter.type"]?.string ?? ""
        guard adapterType == "lora" else {
            throw FormatError.unsupported(file: file, what: "adapter.type '\(adapterType)' (expected 'lora')")
        }
        guard let arch = md["general.architecture"]?.string, !arch.isEmpty else {
            throw FormatError.missing(file: file, field: "general.architecture")
        }
        let alphaValue = md["adapter.lora.alpha"]?.double ?? 0
        guard alphaValue.isFinite else { throw FormatError.invalid(file: file, field: "adapter.lora.alpha", value: "\(alphaValue)", reason: "must be finite") }
        if md["adapter.alora.invocation_tokens"] != nil {
            throw FormatError.unsupported(file: file, what: "activated LoRA (adapter.alora.invocation_tokens)")
        }

        var halves: [String: (a: GGUFTensorInfo?, b: GGUFTensorInfo?)] = [:]
        for t in g.tensors {
            if t.name.hasSuffix(".lora_a") || t.name.hasSuffix(".lora_b") {
                let base = String(t.name.dropLast(7))
                var e = halves[base] ?? (nil, nil)
                if t.name.hasSuffix(".lora_a") { e.a = t } else { e.b = t }
                halves[base] = e
            } else if t.name.hasSuffix("_norm.weight") {
                continue  // mergekit-style norm tensors: llama.cpp skips them too
            } else {
                throw FormatError.invalid(file: file, field: "tensor", value: t.name, reason: "LoRA tensor has unexpected suffix")
            }
        }
        guard !halves.isEmpty else { throw FormatError.missing(file: file, field: "LoRA tensors (.lora_a / .lora_b)") }
        var pairs: [String: Pair] = [:]
        for (base, e) in halves {
            guard let a = e.a, let b = e.b else {
                throw FormatError.missing(file: file, field: "\(base).\(e.a == nil ? "lora_a" : "lora_b") (LoRA tensor pair for '\(base)' is missing one component)")
            }
            guard a.dims.count == 2, b.dims.count == 2 else {
                throw FormatError.invalid(file: file, field: "\(base) LoRA dims", value: "a \(a.dims), b \(b.dims)", reason: "lora_a and lora_b must be 2-D")
            }
            guard a.dims[1] == b.dims[0] else {
                throw FormatError.invalid(file: file, field: "\(base) LoRA dims", value: "a \(a.dims), b \(b.dims)",
                                          reason: "lora_a tensor is not transposed (hint: adapter from \"finetune\" example is no longer supported)")
            }
            let rank = b.dims[0]
            guard rank > 0 else { throw FormatError.invalid(file: file, field: "\(base) rank", value: "0", reason: "must be positive") }
            // alpha 0: llama.cpp applies the pair unscaled; keep that as a per-pair alpha equal to the rank.
            pairs[base] = Pair(rank: rank, inFeatures: a.dims[0], outFeatures: b.dims[1],
                               a: try floats(g, a), b: try floats(g, b), alpha: alphaValue == 0 ? Float(rank) : nil)
        }
        return LoRAAdapter(pairs: pairs, alpha: Float(alphaValue), useRSLoRA: false, architecture: arch,
                           baseModel: md["general.base_model.0.name"]?.string, dropout: 0)
    }

    // MARK: - checks against the base

    /// llama.cpp's loader checks: same architecture, every adapted tensor exists in the base as a 2-D matrix with
    /// ne0 = in and ne1 = out.
    public func validate(base: GGUFFile) throws {
        let arch = base.metadata["general.architecture"]?.string ?? ""
        guard arch == architecture else {
            throw FormatError.invalid(file: base.path, field: "general.architecture", value: arch,
                                      reason: "model arch and LoRA arch mismatch (adapter is for '\(architecture)')")
        }
        for (name, p) in pairs.sorted(by: { $0.key < $1.key }) {
            guard let t = base.tensor(named: name) else {
                throw FormatError.missing(file: base.path, field: "tensor \(name): LoRA tensor '\(name)' does not exist in base model (hint: maybe wrong base model?)")
            }
            guard t.dims.count == 2, t.dims[0] == p.inFeatures, t.dims[1] == p.outFeatures else {
                throw FormatError.invalid(file: base.path, field: "tensor \(name) shape", value: "\(t.dims)",
                                          reason: "tensor '\(name)' has incorrect shape for the LoRA pair [in \(p.inFeatures), out \(p.outFeatures)] (hint: maybe wrong base model?)")
            }
        }
    }

    // MARK: - writing

    /// Pairs in llama.cpp's order: by layer, then by target in block order (q k v o gate up down).
    var orderedNames: [String] {
        func key(_ n: String) -> (Int, Int, String) {
            let p = n.split(separator: ".")
            let layer = p.count > 1 && p[0] == "blk" ? Int(p[1]) ?? Int.max : Int.max
            let short = p.count > 2 ? String(p[2]) : n
            let t = LoRATargets.moduleToGGUF.firstIndex { $0.gguf == short } ?? Int.max
            return (layer, t, n)
        }
        return pairs.keys.sorted { key($0) < key($1) }
    }

    /// Writes the GGUF LoRA llama.cpp and Ollama load: F32 tensors `<base>.lora_a` [in, r] and `.lora_b` [r, out].
    public func writeGGUF(path: String) throws {
        let names = orderedNames
        guard !names.isEmpty else { throw FormatError.missing(file: path, field: "LoRA pairs (the adapter is empty)") }
        var md = GGUFMetadata()
        md["general.architecture"] = .string(architecture)
        md["general.type"] = .string("adapter")
        if let baseModel {
            md["general.base_model.count"] = .uint32(1)
            md["general.base_model.0.name"] = .string(baseModel)
        }
        md["general.file_type"] = .uint32(0)  // all F32
        md["adapter.type"] = .string("lora")
        md["adapter.lora.alpha"] = .float32(alpha)
        var specs: [GGUFTensorSpec] = []
        var data: [(String, Bool)] = []
        for n in names {
            let p = pairs[n]!
            try checkSizes(n, p, file: path)
            specs.append(try GGUFTensorSpec(name: n + ".lora_a", type: .f32, dims: [p.inFeatures, p.rank]))
            specs.append(try GGUFTensorSpec(name: n + ".lora_b", type: .f32, dims: [p.rank, p.outFeatures]))
            data += [(n, true), (n, false)]
        }
        let writer = try GGUFWriter(metadata: md, tensors: specs)
        try writer.write(to: path) { i, sink in
            let (n, isA) = data[i]
            let p = pairs[n]!
            if isA { try sink.write(contentsOf: p.a); return }
            // llama.cpp scales by alpha / r (1 when alpha is 0): fold any other factor into B.
            let fold = alpha == 0 ? scale(of: p) : scale(of: p) * Float(p.rank) / alpha
            try sink.write(contentsOf: fold == 1 ? p.b : p.b.map { $0 * fold })
        }
    }

    /// Writes a PEFT adapter folder (created if needed): adapter_model.safetensors (F32, B rows of q/k in HF order)
    /// and adapter_config.json, each atomically.
    public func writePEFT(directory: String, heads: Int, kvHeads: Int) throws {
        let names = orderedNames
        guard !names.isEmpty else { throw FormatError.missing(file: directory, field: "LoRA pairs (the adapter is empty)") }
        guard architecture == "llama" else {
            throw FormatError.unsupported(file: directory, what: "PEFT names for architecture '\(architecture)' (llmkit writes llama's)")
        }
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw FormatError.io(path: directory, operation: "create directory", message: error.localizedDescription)
        }
        var specs: [SafetensorsTensorSpec] = []
        var data: [[Float]] = []
        var modules: [(module: String, short: String, pair: Pair)] = []
        for n in names {
            let p = pairs[n]!
            try checkSizes(n, p, file: directory)
            let module = try peftModuleName(n, file: directory)
            let short = String(n.split(separator: ".")[2])
            modules.append((module, short, p))
            var b = p.b
            let role = LlamaHF.role(ofGGUF: n)
            if role != .other {
                b = try LoRAAdapter.permuteRows(b, rows: p.outFeatures, cols: p.rank, heads: role == .q ? heads : kvHeads, toGGUF: false, what: "\(directory): \(n)")
            }
            specs.append(SafetensorsTensorSpec(name: "base_model.model.\(module).lora_A.weight", dtype: .f32, shape: [p.rank, p.inFeatures]))
            specs.append(SafetensorsTensorSpec(name: "base_model.model.\(module).lora_B.weight", dtype: .f32, shape: [p.outFeatures, p.rank]))
            data += [p.a, b]
        }
        try SafetensorsWriter.write(to: directory + "/" + LoRAAdapter.peftWeightsName, tensors: specs, metadata: ["format": "pt"]) { i, sink in
            try sink.write(contentsOf: data[i])
        }

        // r: the most common rank; other ranks and alphas go to rank_pattern / alpha_pattern (full module names).
        var counts: [Int: Int] = [:]
        for m in modules { counts[m.pair.rank, default: 0] += 1 }
        let r = counts.max { ($0.value, -$0.key) < ($1.value, -$1.key) }!.key
        let rankPattern = modules.filter { $0.pair.rank != r }.map { ($0.module, JSON.int($0.pair.rank)) }
        let alphaPattern = modules.compactMap { m in m.pair.alpha.map { (m.module, LoRAAdapter.number($0)) } }
        let present = Set(modules.map(\.short))
        let targets = LoRATargets.moduleToGGUF.filter { present.contains($0.gguf) }.map { JSON.string($0.peft) }
        // The fields of PEFT's LoraConfig (present since PEFT 0.10, so `LoraConfig(**json)` accepts them), sorted
        // as PEFT writes them (json.dumps(sort_keys=True)).
        let config = JSON.object([
            ("alpha_pattern", .object(alphaPattern)),
            ("auto_mapping", .null),
            ("base_model_name_or_path", baseModel.map { .string($0) } ?? .null),
            ("bias", .string("none")),
            ("fan_in_fan_out", .bool(false)),
            ("inference_mode", .bool(true)),
            ("init_lora_weights", .bool(true)),
            ("layer_replication", .null),
            ("layers_pattern", .null),
            ("layers_to_transform", .null),
            ("loftq_config", .object([])),
            ("lora_alpha", LoRAAdapter.number(alpha)),
            ("lora_dropout", JSON.float(dropout)),
            ("megatron_config", .null),
            ("megatron_core", .string("megatron.core")),
            ("modules_to_save", .null),
            ("peft_type", .string("LORA")),
            ("r", .int(r)),
            ("rank_pattern", .object(rankPattern)),
            ("revision", .null),
            ("target_modules", .array(targets)),
            ("task_type", .string("CAUSAL_LM")),
            ("use_dora", .bool(false)),
            ("use_rslora", .bool(useRSLoRA)),
        ])
        try AtomicOutput.write(Array((config.serialized(indent: 2) + "\n").utf8), to: directory + "/" + LoRAAdapter.peftConfigName)
    }

    /// An integral value as a JSON integer (PEFT's `lora_alpha: int`), others as a float.
    static func number(_ f: Float) -> JSON {
        f == f.rounded() && abs(f) < 1e9 ? .int(Int(f)) : JSON.float(f)
    }

    func checkSizes(_ n: String, _ p: Pair, file: String) throws {
        guard p.rank > 0, p.inFeatures > 0, p.outFeatures > 0, p.a.count == p.rank * p.inFeatures, p.b.count == p.outFeatures * p.rank else {
            throw FormatError.invalid(file: file, field: "pair \(n)", value: "rank \(p.rank), in \(p.inFeatures), out \(p.outFeatures)",
                                      reason: "A has \(p.a.count) values (want rank·in), B has \(p.b.count) (want out·rank)")
        }
    }

    /// `blk.3.attn_q.weight` → `model.layers.3.self_attn.q_proj`.
    func peftModuleName(_ n: String, file: String) throws -> String {
        let p = n.split(separator: ".").map(String.init)
        guard p.count == 4, p[0] == "blk", let layer = Int(p[1]), p[3] == "weight", let peft = LoRATargets.peftName(ofGGUF: p[2]) else {
            throw FormatError.unsupported(file: file, what: "a PEFT name for LoRA on \(n)")
        }
        return "model.layers.\(layer).\(p[2].hasPrefix("attn_") ? "self_attn" : "mlp").\(peft)"
    }

    /// B's rows between HF order and GGUF order (the q/k permutation of llama.cpp's converter).
    static func permuteRows(_ b: [Float], rows: Int, cols: Int, heads: Int, toGGUF: Bool, what: String) throws -> [Float] {
        guard heads > 0, rows % heads == 0, (rows / heads) % 2 == 0 else {
            throw FormatError.invalid(file: what, field: "rows", value: String(rows),
                                      reason: "cannot split into \(heads) heads of an even size (wrong head count for this base?)")
        }
        var out = [Float](repeating: 0, count: b.count)
        for o in 0..<rows {
            // GGUF row o holds HF row hfRow(o).
            let h = LlamaHF.hfRow(forGGUFRow: o, rows: rows, heads: heads)
            let (dst, src) = toGGUF ? (o, h) : (h, o)
            for c in 0..<cols { out[dst * cols + c] = b[src * cols + c] }
        }
        return out
    }

    // MARK: - element decoding (F32, F16, BF16, Q8_0)

    static func floats(_ st: SafetensorsFile, _ t: SafetensorsTensor) throws -> [Float] {
        guard let type = t.dtype.ggmlType, [.f32, .f16, .bf16].contains(type) else {
            throw FormatError.unsupported(file: st.path, what: "tensor \(t.name) of dtype \(t.dtype) (LoRA weights must be F32, F16 or BF16)")
        }
        return try decode(type, st.data(of: t), count: t.elementCount, file: st.path, name: t.name)
    }

    static func floats(_ g: GGUFFile, _ t: GGUFTensorInfo) throws -> [Float] {
        try decode(t.type, g.data(of: t), count: t.elementCount, file: g.path, name: t.name)
    }

    static func decode(_ type: GGMLType, _ bytes: UnsafeRawBufferPointer, count n: Int, file: String, name: String) throws -> [Float] {
        var out = [Float](repeating: 0, count: n)
        guard let p = bytes.baseAddress, n > 0 else { return out }
        switch type {
        case .f32:
            for i in 0..<n { out[i] = Float(bitPattern: UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
        case .f16:
            for i in 0..<n { out[i] = halfBitsToFloat(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
        case .bf16:
            for i in 0..<n { out[i] = Float(bitPattern: UInt32(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16) }
        case .q8_0:  // blocks of 34 bytes: f16 d, 32 × i8 q; x = d·q
            for blk in 0..<(n / 32) {
                let d = halfBitsToFloat(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: blk * 34, as: UInt16.self)))
                for j in 0..<32 { out[blk * 32 + j] = d * Float(Int8(bitPattern: p.load(fromByteOffset: blk * 34 + 2 + j, as: UInt8.self))) }
            }
        default:
            throw FormatError.unsupported(file: file, what: "LoRA tensor \(name) of type \(type.name) (F32, F16, BF16 or Q8_0)")
        }
        if let bad = out.firstIndex(where: { !$0.isFinite }) {
            throw FormatError.invalid(file: file, field: "\(name)[\(bad)]", value: "\(out[bad])", reason: "LoRA weights must be finite")
        }
        return out
    }

    /// IEEE half → float by bit operations (no Float16: it is missing on Intel Macs).
    static func halfBitsToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exp = Int(h >> 10) & 0x1f
        let man = UInt32(h & 0x3ff)
        if exp == 0x1f { return Float(bitPattern: sign | 0x7f80_0000 | (man << 13)) }
        if exp == 0 {
            let v = Float(man) * 0x1p-24  // subnormal (or zero)
            return sign != 0 ? -v : v
        }
        return Float(bitPattern: sign | UInt32(exp + 112) << 23 | (man << 13))
    }
}

/// The parts of PEFT's adapter_config.json that decide how an adapter computes, with the options llmkit rejects.
struct PEFTConfig {
    let rank: Int
    let alpha: Float
    let useRSLoRA: Bool
    let dropout: Float
    let baseModel: String?
    let rankPattern: [(String, Int)]
    let alphaPattern: [(String, Float)]

    init(path: String) throws {
        guard let c = try JSON.parseFile(path) as? [String: Any] else {
            throw FormatError.json(file: path, message: "adapter_config.json is not a JSON object")
        }
        func bad(_ field: String, _ value: Any?, _ why: String) -> FormatError {
            .invalid(file: path, field: field, value: "\(value ?? "null")", reason: why)
        }
        if let t = c["peft_type"], !(t is NSNull) {
            guard let s = t as? String, s.uppercased() == "LORA" else {
                throw FormatError.unsupported(file: path, what: "peft_type \(t) (llmkit reads LORA adapters)")
            }
        }
        guard let r = JSON.int(c["r"] ?? 8), r > 0 else { throw bad("r", c["r"], "must be a positive integer") }
        rank = r
        guard let a = JSON.double(c["lora_alpha"] ?? 8), a.isFinite else { throw bad("lora_alpha", c["lora_alpha"], "must be a number") }
        alpha = Float(a)
        useRSLoRA = JSON.bool(c["use_rslora"]) ?? false
        dropout = Float(JSON.double(c["lora_dropout"]) ?? 0)
        baseModel = c["base_model_name_or_path"] as? String
        if JSON.bool(c["use_dora"]) == true { throw FormatError.unsupported(file: path, what: "DoRA (use_dora = true); llmkit applies plain LoRA only") }
        if JSON.bool(c["fan_in_fan_out"]) == true { throw FormatError.unsupported(file: path, what: "fan_in_fan_out = true (GPT-2 Conv1D layout)") }
        if let b = c["bias"], !(b is NSNull), (b as? String) != "none" {
            throw FormatError.unsupported(file: path, what: "bias = \(b) (only \"none\": trained biases are not applied)")
        }
        if JSON.bool(c["lora_bias"]) == true { throw FormatError.unsupported(file: path, what: "lora_bias = true") }
        if let m = c["modules_to_save"] as? [Any], !m.isEmpty {
            throw FormatError.unsupported(file: path, what: "modules_to_save \(m) (full copies of modules beside LoRA)")
        }
        if let l = c["layer_replication"], !(l is NSNull) { throw FormatError.unsupported(file: path, what: "layer_replication") }
        if let tp = c["target_parameters"] as? [Any], !tp.isEmpty { throw FormatError.unsupported(file: path, what: "target_parameters") }
        var rp: [(String, Int)] = [], ap: [(String, Float)] = []
        for (k, v) in (c["rank_pattern"] as? [String: Any] ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard let n = JSON.int(v), n > 0 else { throw bad("rank_pattern.\(k)", v, "must be a positive integer") }
            rp.append((k, n))
        }
        for (k, v) in (c["alpha_pattern"] as? [String: Any] ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard let d = JSON.double(v), d.isFinite else { throw bad("alpha_pattern.\(k)", v, "must be a number") }
            ap.append((k, Float(d)))
        }
        rankPattern = rp
        alphaPattern = ap
    }

    /// PEFT's get_pattern_key: the first pattern `p` with re.match(rf"(.*\.)?({p})$", module).
    static func match<T>(_ patterns: [(String, T)], _ module: String) -> T? {
        for (p, v) in patterns {
            if let re = try? NSRegularExpression(pattern: "^(.*\\.)?(\(p))$"),
               re.firstMatch(in: module, range: NSRange(module.startIndex..., in: module)) != nil {
                return v
            }
        }
        return nil
    }

    func rank(for module: String) -> Int { PEFTConfig.match(rankPattern, module) ?? rank }
    func alpha(for module: String) -> Float { PEFTConfig.match(alphaPattern, module) ?? alpha }
}
