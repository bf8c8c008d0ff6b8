// LoRA adapter files: PEFT and GGUF LoRA round trips, the q/k row order of B, PEFT's per-module rank/alpha and
// rsLoRA, files written the way PEFT writes them (`.default` keys, F16), and the files llmkit must refuse.
import Foundation
import Testing
@testable import Formats

@Suite struct LoRAAdapterTests {
    /// Deterministic values (an LCG), distinct per seed.
    static func values(_ n: Int, seed: UInt64) -> [Float] {
        var s = seed &* 6364136223846793005 &+ 1442695040888963407
        return (0..<n).map { _ in
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(s >> 33) % 2001 - 1000) / 1000
        }
    }

    /// A llama-shaped adapter: dim 16, 2 heads / 1 KV head (head size 8: the q/k permutation is not its own inverse), ffn 24, 2 layers, q k v o down targeted.
    static func adapter(rank: Int = 4) -> LoRAAdapter {
        var pairs: [String: LoRAAdapter.Pair] = [:]
        let shapes: [(String, Int, Int)] = [("attn_q", 16, 16), ("attn_k", 16, 8), ("attn_v", 16, 8), ("attn_output", 16, 16), ("ffn_down", 24, 16)]
        var seed: UInt64 = 1
        for l in 0..<2 {
            for (n, inF, outF) in shapes {
                pairs["blk.\(l).\(n).weight"] = .init(rank: rank, inFeatures: inF, outFeatures: outF,
                                                      a: values(rank * inF, seed: seed), b: values(outF * rank, seed: seed + 1))
                seed += 2
            }
        }
        return LoRAAdapter(pairs: pairs, alpha: 16, architecture: "llama", baseModel: "HuggingFaceTB/SmolLM2-135M-Instruct", dropout: 0.05)
    }

    /// ΔW = scale·B·A of one pair, [out, in] row-major.
    static func delta(_ ad: LoRAAdapter, _ p: LoRAAdapter.Pair) -> [Float] {
        let s = ad.scale(of: p)
        var d = [Float](repeating: 0, count: p.outFeatures * p.inFeatures)
        for o in 0..<p.outFeatures {
            for i in 0..<p.inFeatures {
                var acc: Float = 0
                for r in 0..<p.rank { acc += p.b[o * p.rank + r] * p.a[r * p.inFeatures + i] }
                d[o * p.inFeatures + i] = s * acc
            }
        }
        return d
    }

    static func maxDiff(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count)
        return zip(a, b).map { abs($0 - $1) }.max() ?? 0
    }

    @Test func peftRoundTrip() throws {
        let dir = Paths.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ad = Self.adapter()
        try ad.writePEFT(directory: dir + "/peft", heads: 2, kvHeads: 1)
        let back = try LoRAAdapter.read(path: dir + "/peft", heads: 2, kvHeads: 1)
        #expect(back.pairs == ad.pairs)
        #expect(back.alpha == 16 && !back.useRSLoRA && back.architecture == "llama")
        #expect(back.baseModel == ad.baseModel && back.dropout == 0.05)
        // The safetensors file alone finds its config beside it.
        let again = try LoRAAdapter.read(path: dir + "/peft/adapter_model.safetensors", heads: 2, kvHeads: 1)
        #expect(again.pairs == ad.pairs)
        // Read with the wrong head count, q/k B rows come back in another order.
        let wrong = try LoRAAdapter.read(path: dir + "/peft", heads: 4, kvHeads: 2)
        #expect(wrong.pairs["blk.0.attn_q.weight"] != ad.pairs["blk.0.attn_q.weight"])
        #expect(wrong.pairs["blk.0.attn_v.weight"] == ad.pairs["blk.0.attn_v.weight"])
    }

    /// B's q/k rows in the PEFT file are in HF order: GGUF row o is HF row hfRow(o); A and v are untouched.
    @Test func peftFileHoldsHFRowOrder() throws {
        let dir = Paths.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ad = Self.adapter(rank: 2)
        try ad.writePEFT(directory: dir, heads: 2, kvHeads: 1)
        let st = try SafetensorsFile(path: dir + "/adapter_model.safetensors")
        #expect(st.metadata == ["format": "pt"])
        #expect(st.tensors.count == 20)
        for (module, gguf, heads) in [("self_attn.q_proj", "attn_q", 2), ("self_attn.k_proj", "attn_k", 1), ("self_attn.v_proj", "attn_v", 0)] {
            let p = ad.pairs["blk.1.\(gguf).weight"]!
            let tb = try #require(st.tensor(named: "base_model.model.model.layers.1.\(module).lora_B.weight"))
            let ta = try #require(st.tensor(named: "base_model.model.model.layers.1.\(module).lora_A.weight"))
            #expect(tb.shape == [p.outFeatures, 2] && tb.dtype == .f32)
            #expect(ta.shape == [2, p.inFeatures])
            let hf = try LoRAAdapter.floats(st, tb)
            #expect(try LoRAAdapter.floats(st, ta) == p.a)
            for o in 0..<p.outFeatures {
                let src = heads == 0 ? o : LlamaHF.hfRow(forGGUFRow: o, rows: p.outFeatures, heads: heads)
                #expect(Array(hf[(src * 2)..<(src * 2 + 2)]) == Array(p.b[(o * 2)..<(o * 2 + 2)]))
            }
        }
        let config = try #require(try JSON.parseFile(dir + "/adapter_config.json") as? [String: Any])
        #expect(config["peft_type"] as? String == "LORA" && config["task_type"] as? String == "CAUSAL_LM")
        #expect(JSON.int(config["r"]) == 2 && JSON.int(config["lora_alpha"]) == 16)
        #expect(config["target_modules"] as? [String] == ["q_proj", "k_proj", "v_proj", "o_proj", "down_proj"])
        #expect(config["bias"] as? String == "none" && JSON.bool(config["fan_in_fan_out"]) == false)
        #expect(JSON.bool(config["use_rslora"]) == false && JSON.bool(config["inference_mode"]) == true)
        #expect((config["rank_pattern"] as? [String: Any])?.isEmpty == true)
    }

    @Test func ggufRoundTrip() throws {
        let dir = Paths.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ad = Self.adapter()
        try ad.writeGGUF(path: dir + "/a.gguf")
        let g = try GGUFFile(path: dir + "/a.gguf")
        #expect(g.metadata["general.type"]?.string == "adapter" && g.metadata["adapter.type"]?.string == "lora")
        #expect(g.metadata["adapter.lora.alpha"] == .float32(16))
        #expect(g.tensors.first?.name == "blk.0.attn_q.weight.lora_a" && g.tensors.first?.dims == [16, 4])
        #expect(g.tensor(named: "blk.1.ffn_down.weight.lora_b")?.dims == [4, 16])
        let back = try LoRAAdapter.read(path: dir + "/a.gguf", heads: 0, kvHeads: 0)
        #expect(back.pairs == ad.pairs && back.alpha == 16 && back.architecture == "llama" && back.baseModel == ad.baseModel)
        // PEFT → GGUF → PEFT is the same adapter (dropout is not a GGUF field).
        try back.writePEFT(directory: dir + "/p", heads: 2, kvHeads: 1)
        try ad.writePEFT(directory: dir + "/q", heads: 2, kvHeads: 1)
        #expect(FileManager.default.contents(atPath: dir + "/p/adapter_model.safetensors") == FileManager.default.contents(atPath: dir + "/q/adapter_model.safetensors"))
    }

    /// Per-module rank/alpha and rsLoRA survive PEFT exactly; in GGUF (one alpha, scale alpha/r) the factor is folded
    /// into B, so ΔW is the same.
    @Test func patternsAndRSLoRA() throws {
        let dir = Paths.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var ad = Self.adapter()
        ad.useRSLoRA = true
        var q = ad.pairs["blk.1.attn_q.weight"]!
        q = .init(rank: 2, inFeatures: 16, outFeatures: 16, a: Self.values(32, seed: 99), b: Self.values(32, seed: 98), alpha: 5)
        ad.pairs["blk.1.attn_q.weight"] = q
        ad.pairs["blk.0.attn_v.weight"]!.alpha = 3
        try ad.writePEFT(directory: dir, heads: 2, kvHeads: 1)
        let config = try #require(try JSON.parseFile(dir + "/adapter_config.json") as? [String: Any])
        #expect(JSON.int((config["rank_pattern"] as? [String: Any])?["model.layers.1.self_attn.q_proj"]) == 2)
        #expect((config["alpha_pattern"] as? [String: Any])?.count == 2)
        let back = try LoRAAdapter.read(path: dir, heads: 2, kvHeads: 1)
        #expect(back.pairs == ad.pairs && back.useRSLoRA)
        #expect(back.scale(of: back.pairs["blk.1.attn_q.weight"]!) == 5 / Float(2).squareRoot())

        try ad.writeGGUF(path: dir + "/a.gguf")
        let g = try LoRAAdapter.read(path: dir + "/a.gguf", heads: 2, kvHeads: 1)
        #expect(!g.useRSLoRA)
        for (n, p) in ad.pairs {
            let d = Self.maxDiff(Self.delta(ad, p), Self.delta(g, g.pairs[n]!))
            #expect(d < 1e-5, "\(n): ΔW differs by \(d)")
        }
    }

    /// A PEFT file as PEFT itself may hold it: `.default` in the names, F16 and BF16 tensors, keys in any order,
    /// a regex rank_pattern; B's q rows given in HF order.
    @Test func readsPEFTVariants() throws {
        let dir = Paths.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // q_proj of layer 0 (rank 2, 16 rows = 2 heads of 8) in F16, v_proj (rank 3 via rank_pattern) in BF16.
        let qa: [Float] = (0..<16).map { Float($0) / 8 }, qb: [Float] = (0..<32).map { Float($0) - 8 }
        let va: [Float] = (0..<24).map { Float($0) / 4 }, vb: [Float] = (0..<12).map { Float($0) * 0.5 }
        func f16(_ x: Float) -> UInt16 {  // exact for these small dyadic values
            let b = x.bitPattern
            if x == 0 { return UInt16(b >> 16) & 0x8000 }
            return UInt16((b >> 16) & 0x8000) | UInt16((Int(b >> 23) & 0xff) - 112) << 10 | UInt16((b >> 13) & 0x3ff)
        }
        let specs: [(SafetensorsTensorSpec, [UInt16])] = [
            (.init(name: "base_model.model.model.layers.0.self_attn.v_proj.lora_B.default.weight", dtype: .bf16, shape: [4, 3]), vb.map { UInt16($0.bitPattern >> 16) }),
            (.init(name: "base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight", dtype: .f16, shape: [2, 8]), qa.map(f16)),
            (.init(name: "base_model.model.model.layers.0.self_attn.q_proj.lora_B.default.weight", dtype: .f16, shape: [16, 2]), qb.map(f16)),
            (.init(name: "base_model.model.model.layers.0.self_attn.v_proj.lora_A.default.weight", dtype: .bf16, shape: [3, 8]), va.map { UInt16($0.bitPattern >> 16) }),
        ]
        try SafetensorsWriter.write(to: dir + "/adapter_model.safetensors", tensors: specs.map(\.0)) { i, sink in try sink.write(contentsOf: specs[i].1) }
        try Array(#"{"peft_type": "LORA", "r": 2, "lora_alpha": 4.0, "target_modules": "q_proj|v_proj", "rank_pattern": {"layers\\.0\\..*v_proj": 3}, "alpha_pattern": {"v_proj": 6}, "bias": "none", "use_dora": false}"#.utf8)
            .withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: dir + "/adapter_config.json")) }
        let ad = try LoRAAdapter.read(path: dir, heads: 2, kvHeads: 1)
        let q = try #require(ad.pairs["blk.0.attn_q.weight"]), v = try #require(ad.pairs["blk.0.attn_v.weight"])
        #expect(q.rank == 2 && q.a == qa && q.alpha == nil)
        #expect(ad.scale(of: q) == 2)
        // GGUF row o = HF row hfRow(o): per head of 8, pairs (i, i + 4) interleaved.
        let order = [0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15]
        #expect(q.b == order.flatMap { [qb[$0 * 2], qb[$0 * 2 + 1]] })
        #expect(v.rank == 3 && v.a == va && v.b == vb && v.alpha == 6 && ad.scale(of: v) == 2)
    }

    @Test func refusesWhatItCannotApply() throws {
        let dir = Paths.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ad = Self.adapter(rank: 2)
        try ad.writePEFT(directory: dir, heads: 2, kvHeads: 1)
        let good = try String(contentsOfFile: dir + "/adapter_config.json", encoding: .utf8)
        func withConfig(_ from: String, _ to: String) throws -> String {
            try good.replacingOccurrences(of: from, with: to).write(toFile: dir + "/adapter_config.json", atomically: true, encoding: .utf8)
            defer { try? good.write(toFile: dir + "/adapter_config.json", atomically: true, encoding: .utf8) }
            do { _ = try LoRAAdapter.read(path: dir, heads: 2, kvHeads: 1) } catch let e as FormatError { return "\(e)" }
            Issue.record("\(to) was accepted")
            return ""
        }
        #expect(try withConfig(#""use_dora": false"#, #""use_dora": true"#).contains("DoRA"))
        #expect(try withConfig(#""bias": "none""#, #""bias": "all""#).contains("bias"))
        #expect(try withConfig(#""fan_in_fan_out": false"#, #""fan_in_fan_out": true"#).contains("fan_in_fan_out"))
        #expect(try withConfig(#""r": 2"#, #""r": 8"#).contains("r = 8"))
        #expect(try withConfig(#""peft_type": "LORA""#, #""peft_type": "IA3""#).contains("peft_type"))

        // A module we cannot map, and a missing half.
        func withTensors(_ specs: [SafetensorsTensorSpec]) throws -> String {
            try SafetensorsWriter.write(to: dir + "/x/adapter_model.safetensors", tensors: specs) { i, sink in
                try sink.write(contentsOf: [Float](repeating: 0.5, count: specs[i].byteCount / 4))
            }
            do { _ = try LoRAAdapter.read(path: dir + "/x", heads: 2, kvHeads: 1) } catch let e as FormatError { return "\(e)" }
            Issue.record("\(specs.map(\.name)) accepted")
            return ""
        }
        try FileManager.default.createDirectory(atPath: dir + "/x", withIntermediateDirectories: true)
        try good.write(toFile: dir + "/x/adapter_config.json", atomically: true, encoding: .utf8)
        #expect(try withTensors([.init(name: "base_model.model.lm_head.lora_A.weight", dtype: .f32, shape: [2, 16]),
                                 .init(name: "base_model.model.lm_head.lora_B.weight", dtype: .f32, shape: [32, 2])]).contains("lm_head"))
        #expect(try withTensors([.init(name: "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", dtype: .f32, shape: [2, 16])]).contains("lora_B"))
        #expect(try withTensors([.init(name: "base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector", dtype: .f32, shape: [16])]).contains("DoRA"))
        #expect(try withTensors([.init(name: "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", dtype: .f32, shape: [2, 16]),
                                 .init(name: "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", dtype: .f32, shape: [16, 3])]).contains("same r"))
        // Pickles, and a folder with no adapter.
        try FileManager.default.createDirectory(atPath: dir + "/y", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: dir + "/y/adapter_model.bin", contents: Data([0x80, 2]))
        #expect(throws: FormatError.self) { try LoRAAdapter.read(path: dir + "/y", heads: 2, kvHeads: 1) }
        do { _ = try LoRAAdapter.read(path: dir + "/y", heads: 2, kvHeads: 1) } catch { #expect("\(error)".contains("pickle")) }
        do { _ = try LoRAAdapter.read(path: dir + "/nothing", heads: 2, kvHeads: 1) } catch { #expect("\(error)".contains("no such file")) }
    }

    @Test func ggufLoaderChecks() throws {
        let dir = Paths.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func reject(_ md: [(String, GGUFValue)], _ tensors: [(String, [Int])]) throws -> String {
            var m = GGUFMetadata()
            for (k, v) in md { m[k] = v }
            let specs = try tensors.map { try GGUFTensorSpec(name: $0.0, type: .f32, dims: $0.1) }
            try GGUFWriter(metadata: m, tensors: specs).write(to: dir + "/b.gguf") { i, sink in
                try sink.write(contentsOf: [Float](repeating: 1, count: specs[i].byteCount / 4))
            }
            do { _ = try LoRAAdapter.read(path: dir + "/b.gguf", heads: 2, kvHeads: 1) } catch let e as FormatError { return "\(e)" }
            Issue.record("accepted \(md) \(tensors)")
            return ""
        }
        let md: [(String, GGUFValue)] = [("general.architecture", .string("llama")), ("general.type", .string("adapter")),
                                         ("adapter.type", .string("lora")), ("adapter.lora.alpha", .float32(8))]
        let ok: [(String, [Int])] = [("blk.0.attn_q.weight.lora_a", [16, 4]), ("blk.0.attn_q.weight.lora_b", [4, 16])]
        #expect(try reject([md[0], ("general.type", .string("model"))] + md[2...], ok).contains("expect general.type to be 'adapter'"))
        #expect(try reject(Array(md[0...1]) + [("adapter.type", .string("alora"))] + [md[3]], ok).contains("adapter.type"))
        #expect(try reject(md, [ok[0]]).contains("missing one component"))
        #expect(try reject(md, [ok[0], ("blk.0.attn_q.weight.lora_b", [16, 4])]).contains("not transposed"))
        #expect(try reject(md, ok + [("blk.0.attn_q.weight", [16, 16])]).contains("unexpected suffix"))

        // Checks against a base: architecture, missing tensor, shape.
        var bmd = GGUFMetadata()
        bmd["general.architecture"] = .string("llama")
        let base = try parseGGUF(try makeGGUF(bmd, [("blk.0.attn_q.weight", .f32, [16, 16]), ("blk.0.attn_k.weight", .f32, [16, 8])]))
        var ad = Self.adapter()
        #expect(throws: FormatError.self) { try ad.validate(base: base) }  // attn_v … not in this base
        ad.pairs = ad.pairs.filter { $0.key == "blk.0.attn_q.weight" || $0.key == "blk.0.attn_k.weight" }
        try ad.validate(base: base)
        ad.pairs["blk.0.attn_k.weight"]!.outFeatures = 16
        do { try ad.validate(base: base); Issue.record("wrong shape accepted") } catch { #expect("\(error)".contains("incorrect shape")) }
        ad.architecture = "gpt2"
        do { try ad.validate(base: base); Issue.record("arch mismatch accepted") } catch { #expect("\(error)".contains("arch mismatch")) }
    }

    @Test func decodesHalfAndQ8_0() throws {
        #expect(LoRAAdapter.halfBitsToFloat(0x3c00) == 1)
        #expect(LoRAAdapter.halfBitsToFloat(0xc000) == -2)
        #expect(LoRAAdapter.halfBitsToFloat(0x0001) == 0x1p-24)
        #expect(LoRAAdapter.halfBitsToFloat(0x7bff) == 65504)
        #expect(LoRAAdapter.halfBitsToFloat(0x7c00) == .infinity)
        // One Q8_0 block: d = 0.5, q = -16 … 15.
        var block: [UInt8] = [0x00, 0x38]
        block += (0..<32).map { UInt8(bitPattern: Int8($0 - 16)) }
        let out = try block.withUnsafeBytes { try LoRAAdapter.decode(.q8_0, $0, count: 32, file: "t", name: "x") }
        #expect(out == (0..<32).map { Float($0 - 16) * 0.5 })
    }
}
