// LoRALlamaModel: QLoRA on a llama GGUF — the base stays frozen in its block type in the memory map (any type
// Dequantize supports: F32, F16, BF16, Q4_0 … Q8_0, K-quants), and the only trainable parameters are LoRA pairs
// on the chosen target matrices (see Finetune/LoRA.swift for names, shapes, init and scale).
//
// The network is Infer's LlamaModel (llama.cpp's llm_build_llama) computed in F32 for training:
//   x = token_embd[tokens]
//   per block: h = rmsnorm(x)·attn_norm;  q, k, v = lin(h);  rope(q), rope(k) (ggml NORM mode, rope dims, linear
//              freq scale and Llama 3.1's rope_freqs factors as in Infer);  x += lin_o(attention(q, k, v))
//              h = rmsnorm(x)·ffn_norm;  x += lin_down(silu(lin_gate(h)) ⊙ lin_up(h))
//   logits = (rmsnorm(x)·output_norm)·Woutᵀ        (Wout = token_embd when output.weight is absent)
// where lin(h) = h·Wᵀ (FrozenLinear: W dequantized tile by tile) + s·(dropout(h)·Aᵀ)·Bᵀ on targets (LoRALinear).
//
// Training-specific choices:
//   - The output projection runs only on the rows whose logits are needed: the scored rows (target ≥ 0) for a
//     loss, the last row for `logits(context:)`. Fine-tuning masks the prompt, so most rows skip the vocab matmul.
//   - Dropout (p = lora.dropout, training only) on each adapter's input, one mask per target, drawn from the run's
//     TrainRNG per block in target order (q k v o gate up down), N·in uniforms each in memory order.
//   - Activation checkpointing (`gradCheckpoint`): the forward keeps only each block's input (N, C) and the RNG
//     state at its start; the backward recomputes the block (same masks) before going back through it, so
//     gradients are bit-identical to the non-checkpointed run. Without it every block's activations are kept.
//   - Buffers are allocated once for the largest batch×length seen (the logits for the most scored rows seen).
// Shapes are row-major (N = batch·length token rows): x (N, C), qkv (N, qDim + 2·kvDim), ffn (N, F).

import Foundation
import Formats
import Quant

public final class LoRALlamaModel: AdapterModel, TrainModelRuntime {
    public let config: ModelConfig
    public let lora: LoRAConfig
    public let parameters: [Parameter]
    public let gradCheckpoint: Bool
    /// The threads the ops run on (results do not depend on its size).
    public var pool: ThreadPool = .shared
    /// Per-op-family timing when set.
    public var profile: OpProfile?

    /// One adapted matrix's trainable pair.
    struct Pair {
        let a: Parameter  // (r, in)
        let b: Parameter  // (out, r)
        let inDim: Int, outDim: Int
    }
    struct Block {
        let attnNorm, ffnNorm: UnsafePointer<Float>
        /// attn_q attn_k attn_v attn_output ffn_gate ffn_up ffn_down (LoRATargets order).
        let w: [FrozenLinear]
        /// The LoRA pair of each matrix of `w`, nil when it is not a target.
        let lora: [Pair?]
        /// The groups that share an input: q, k, v and gate, up.
        var qkv: [FrozenLinear] { Array(w[0..<3]) }
        var gateUp: [FrozenLinear] { [w[4], w[5]] }
    }
    let file: GGUFFile
    let blocks: [Block]
    let tokenEmbd: FrozenLinear
    let output: FrozenLinear
    let outputNorm: UnsafePointer<Float>
    let heads: Int, kvHeads: Int, headDim: Int, qDim: Int, kvDim: Int, qkvWidth: Int, maxIn: Int
    let scale: Float
    let ropeTable: [Float]
    private var owned: [UnsafeMutablePointer<Float>] = []
    private let tileScratch: FloatPointer?

    static let targetOrder = LoRATargets.moduleToGGUF.map(\.gguf)

    public init(base: GGUFFile, lora: LoRAConfig, maxSequence: Int, gradCheckpoint: Bool, rng: inout TrainRNG) throws {
        try lora.validate()
        let path = base.path
        let hp = try LlamaHyperparameters(gguf: base)  // a FormatError naming the file and key
        guard maxSequence > 0 else { throw FinetuneError.config("the maximum sequence length must be positive, not \(maxSequence)") }
        let md = base.metadata
        file = base
        self.lora = lora
        self.gradCheckpoint = gradCheckpoint
        heads = hp.headCount
        kvHeads = hp.kvHeadCount
        headDim = hp.headDim
        qDim = heads * headDim
        kvDim = kvHeads * headDim
        qkvWidth = qDim + 2 * kvDim
        let C = hp.hiddenSize, F = hp.intermediateSize
        maxIn = max(C, qDim, F)
        scale = lora.scale

        guard let embd = base.tensor(named: "token_embd.weight"), embd.dims.count == 2 else {
            throw FinetuneError.data(file: path, message: "missing tensor token_embd.weight")
        }
        let V = embd.dims[1]
        tokenEmbd = try FrozenLinear(base, "token_embd.weight", cols: C, rows: V)
        let tied = base.tensor(named: "output.weight") == nil
        output = tied ? tokenEmbd : try FrozenLinear(base, "output.weight", cols: C, rows: V)

        // RoPE as Infer's LlamaModel: the first `ropeDims` of each head rotate, θ_i = freqScale·pos·base^(−2i/ropeDims)/ff_i.
        let ropeDims = md["llama.rope.dimension_count"]?.int ?? headDim
        guard ropeDims > 0, ropeDims <= headDim, ropeDims % 2 == 0 else {
            throw FinetuneError.data(file: path, message: "llama.rope.dimension_count \(ropeDims) must be even and at most the head size \(headDim)")
        }
        var freqScale = 1.0
        if md["llama.rope.scaling.type"]?.string == "linear", let f = md["llama.rope.scaling.factor"]?.double, f > 0 { freqScale = 1 / f }
        var own: [UnsafeMutablePointer<Float>] = []
        var factors = [Float](repeating: 1, count: ropeDims / 2)
        if base.tensor(named: "rope_freqs.weight") != nil {
            let p = try Self.vector(base, "rope_freqs.weight", count: ropeDims / 2, owned: &own)
            for i in factors.indices { factors[i] = p[i] }
        }
        var table = [Float](repeating: 0, count: maxSequence * headDim)
        for pos in 0..<maxSequence {
            for i in 0..<(headDim / 2) {
                var c = 1.0, s = 0.0
                if 2 * i < ropeDims {
                    let theta = freqScale * Double(pos) * pow(hp.ropeTheta, -2 * Double(i) / Double(ropeDims)) / Double(factors[i])
                    c = cos(theta); s = sin(theta)
                }
                table[pos * headDim + 2 * i] = Float(c)
                table[pos * headDim + 2 * i + 1] = Float(s)
            }
        }
        ropeTable = table

        // Base matrices, and the LoRA pairs in layer order then target order (the parameters' and the init's order).
        var ps: [Parameter] = []
        var bs: [Block] = []
        let shapes = [(C, qDim), (C, kvDim), (C, kvDim), (qDim, C), (C, F), (C, F), (F, C)]  // (in, out)
        for l in 0..<hp.layerCount {
            let p = "blk.\(l)."
            var w: [FrozenLinear] = []
            var pairs: [Pair?] = []
            for (t, name) in Self.targetOrder.enumerated() {
                let (inDim, outDim) = shapes[t]
                w.append(try FrozenLinear(base, p + name + ".weight", cols: inDim, rows: outDim))
                if lora.targets.contains(name) {
                    let a = Parameter(name: p + name + ".weight.lora_a", shape: [lora.rank, inDim], decay: true)
                    let b = Parameter(name: p + name + ".weight.lora_b", shape: [outDim, lora.rank], decay: true)
                    let bound = 1 / Float(inDim).squareRoot()  // PEFT: kaiming_uniform(a = √5) = U(−1/√in, 1/√in)
                    for i in 0..<a.count { a.value[i] = (2 * rng.uniform() - 1) * bound }
                    ps += [a, b]
                    pairs.append(Pair(a: a, b: b, inDim: inDim, outDim: outDim))
                } else {
                    pairs.append(nil)
                }
            }
            bs.append(Block(attnNorm: try Self.vector(base, p + "attn_norm.weight", count: C, owned: &own),
                            ffnNorm: try Self.vector(base, p + "ffn_norm.weight", count: C, owned: &own), w: w, lora: pairs))
        }
        blocks = bs
        outputNorm = try Self.vector(base, "output_norm.weight", count: C, owned: &own)
        parameters = ps
        config = ModelConfig(architecture: "llama", vocabularySize: V, contextLength: maxSequence, layers: hp.layerCount, dim: C,
                             heads: heads, kvHeads: kvHeads, ffnDim: F, dropout: lora.dropout, normEps: Float(hp.rmsNormEps),
                             ropeTheta: Float(hp.ropeTheta), tiedOutput: tied)
        let scratch = (bs.flatMap(\.w) + [output]).map(\.scratchFloats).max() ?? 0
        tileScratch = scratch > 0 ? .allocate(capacity: scratch) : nil
        baseName = md["general.name"]?.string
        owned = own
    }

    let baseName: String?

    deinit {
        for p in owned { p.deallocate() }
        tileScratch?.deallocate()
        logitsStore?.deallocate()
    }

    /// A 1-D vector of `count` floats: F32 in place, other types widened once into memory the model owns.
    private static func vector(_ file: GGUFFile, _ name: String, count: Int, owned: inout [UnsafeMutablePointer<Float>]) throws
        -> UnsafePointer<Float>
    {
        guard let t = file.tensor(named: name) else { throw FinetuneError.data(file: file.path, message: "missing tensor \(name)") }
        guard t.elementCount == count, t.dims.count == 1 || t.dims.dropFirst().allSatisfy({ $0 == 1 }) else {
            throw FinetuneError.data(file: file.path, message: "tensor \(name) has shape \(t.dims), expected [\(count)]")
        }
        let bytes = file.data(of: t)
        if t.type == .f32 { return bytes.baseAddress!.assumingMemoryBound(to: Float.self) }
        guard Dequantize.supports(t.type) else {
            throw FinetuneError.data(file: file.path, message: "tensor \(name) has unsupported type \(t.type.name)")
        }
        let p = UnsafeMutablePointer<Float>.allocate(capacity: count)
        owned.append(p)
        do { try Dequantize.row(t.type, bytes.baseAddress!, p, count) } catch {
            throw FinetuneError.data(file: file.path, message: "tensor \(name): \(error)")
        }
        return UnsafePointer(p)
    }

    // MARK: AdapterModel

    public func adapter() -> LoRAAdapter {
        var pairs: [String: LoRAAdapter.Pair] = [:]
        for (l, b) in blocks.enumerated() {
            for (t, p) in b.lora.enumerated() {
                guard let p else { continue }
                pairs["blk.\(l).\(Self.targetOrder[t]).weight"] = LoRAAdapter.Pair(
                    rank: lora.rank, inFeatures: p.inDim, outFeatures: p.outDim, a: Array(p.a.value), b: Array(p.b.value))
            }
        }
        return LoRAAdapter(pairs: pairs, alpha: lora.alpha, useRSLoRA: lora.useRSLoRA, architecture: "llama",
                           baseModel: baseName, dropout: lora.dropout)
    }

    public func load(_ adapter: LoRAAdapter) throws {
        guard adapter.architecture == "llama" else {
            throw FinetuneError.config("the adapter is for architecture \(adapter.architecture), the base is llama")
        }
        guard adapter.scale(rank: lora.rank) == lora.scale else {
            throw FinetuneError.config("the adapter's scale (alpha \(adapter.alpha)\(adapter.useRSLoRA ? ", rsLoRA" : "")) differs from the model's (alpha \(lora.alpha)\(lora.useRSLoRA ? ", rsLoRA" : ""))")
        }
        var mine: [String: Pair] = [:]
        for (l, b) in blocks.enumerated() {
            for (t, p) in b.lora.enumerated() { if let p { mine["blk.\(l).\(Self.targetOrder[t]).weight"] = p } }
        }
        for name in adapter.pairs.keys.sorted() where mine[name] == nil {
            throw FinetuneError.config("the adapter has a pair for \(name), which is not a LoRA target of this model (targets \(lora.targets.joined(separator: ",")))")
        }
        for name in mine.keys.sorted() where adapter.pairs[name] == nil {
            throw FinetuneError.config("the adapter has no pair for \(name)")
        }
        for (name, q) in adapter.pairs {
            let p = mine[name]!
            guard q.rank == lora.rank, q.inFeatures == p.inDim, q.outFeatures == p.outDim,
                  q.a.count == p.a.count, q.b.count == p.b.count else {
                throw FinetuneError.config("adapter pair \(name) is rank \(q.rank) [\(q.outFeatures), \(q.inFeatures)], the model expects rank \(lora.rank) [\(p.outDim), \(p.inDim)]")
            }
        }
        for (name, q) in adapter.pairs {
            let p = mine[name]!
            _ = p.a.value.update(fromContentsOf: q.a)
            _ = p.b.value.update(fromContentsOf: q.b)
        }
    }

    // MARK: activations

    /// What one block's backward needs from its forward (one set per block, or one shared set when checkpointing).
    struct BlockActs {
        var n1, rstd1, qkv, att, lse, resMid, n2, rstd2, g, u, act: FloatPointer
        /// Per target: h = xd·Aᵀ (N, r) and the dropout mask (N, in), nil when absent.
        var h: [FloatPointer?], mask: [FloatPointer?]
    }
    private let arena = Arena()
    private var capacity = 0
    private var acts: [BlockActs] = []
    /// Block inputs: xs[0] the embeddings, xs[l + 1] block l's output (N, C).
    private var xs: [FloatPointer] = []
    private var xd: FloatPointer!, tmp: FloatPointer!, gbuf: FloatPointer!
    private var dres: FloatPointer!, dsmall: FloatPointer!, datt: FloatPointer!, dqkv: FloatPointer!
    private var dact: FloatPointer!, dg: FloatPointer!, du: FloatPointer!
    private var xS: FloatPointer!, nfS: FloatPointer!, rstdS: FloatPointer!, dnfS: FloatPointer!, dxS: FloatPointer!, losses: FloatPointer!
    private var attScratch: FloatPointer!, normScratch: FloatPointer!, normSink: FloatPointer!
    private var logitsStore: FloatPointer?
    private var logitsCapacity = 0
    /// Rows of the last forward whose logits were computed, and the RNG state at each block's start.
    private var outRows: [Int] = []
    private var rngAt: [TrainRNG] = []

    /// Bytes of activation buffers currently allocated.
    public var activationBytes: Int { arena.bytes + logitsCapacity * 4 }

    private func ensure(rows n: Int) {
        if n <= capacity { return }
        arena.reset()
        let C = config.dim, F = config.ffnDim, H = heads, r = lora.rank, a = arena
        let drop = lora.dropout > 0
        let ins = [config.dim, config.dim, config.dim, qDim, config.dim, config.dim, F]
        acts = (0..<(gradCheckpoint ? 1 : config.layers)).map { l in
            let pairs = blocks[gradCheckpoint ? 0 : l].lora
            return BlockActs(n1: a.floats(n * C), rstd1: a.floats(n), qkv: a.floats(n * qkvWidth), att: a.floats(n * qDim),
                             lse: a.floats(n * H), resMid: a.floats(n * C), n2: a.floats(n * C), rstd2: a.floats(n),
                             g: a.floats(n * F), u: a.floats(n * F), act: a.floats(n * F),
                             h: pairs.map { $0 == nil ? nil : a.floats(n * r) },
                             mask: pairs.enumerated().map { t, p in p == nil || !drop ? nil : a.floats(n * ins[t]) })
        }
        xs = (0...config.layers).map { _ in a.floats(n * C) }
        xd = a.floats(drop ? n * maxIn : 0); tmp = a.floats(drop ? n * maxIn : 0); gbuf = a.floats(n * r)
        dres = a.floats(n * C); dsmall = a.floats(n * C); datt = a.floats(n * qDim); dqkv = a.floats(n * qkvWidth)
        dact = a.floats(n * F); dg = a.floats(n * F); du = a.floats(n * F)
        xS = a.floats(n * C); nfS = a.floats(n * C); rstdS = a.floats(n); dnfS = a.floats(n * C); dxS = a.floats(n * C)
        losses = a.floats(n)
        attScratch = a.floats(Attention.maxParts * Attention.scratchPerPart(maxLength: config.contextLength, headDim: headDim))
        normScratch = a.floats(Chunks.max * 2 * C); normSink = a.floats(C)
        capacity = n
    }

    private func ensureLogits(rows s: Int) -> FloatPointer {
        let need = max(1, s) * config.vocabularySize
        if need > logitsCapacity {
            logitsStore?.deallocate()
            logitsStore = .allocate(capacity: need)
            logitsCapacity = need
        }
        return logitsStore!
    }

    // MARK: TrainableModel

    public func forwardBackward(inputs: [Int32], targets: [Int32], batch: Int, length: Int, gradScale: Float,
                                rng: inout TrainRNG) throws -> Float {
        try TrainInit.check(config, inputs: inputs, targets: targets, batch: batch, length: length)
        return inputs.withUnsafeBufferPointer { inp in
            targets.withUnsafeBufferPointer { tgt in
                let loss = forward(inp.baseAddress!, tgt.baseAddress!, wanted: nil, batch: batch, length: length, train: true,
                                   gradScale: gradScale, rng: &rng)
                if !outRows.isEmpty { backward(batch: batch, length: length) }
                return loss
            }
        }
    }

    public func loss(inputs: [Int32], targets: [Int32], batch: Int, length: Int) throws -> Float {
        try TrainInit.check(config, inputs: inputs, targets: targets, batch: batch, length: length)
        var rng = TrainRNG(seed: 0)
        return inputs.withUnsafeBufferPointer { inp in
            targets.withUnsafeBufferPointer { tgt in
                forward(inp.baseAddress!, tgt.baseAddress!, wanted: nil, batch: batch, length: length, train: false, gradScale: 0, rng: &rng)
            }
        }
    }

    public func logits(context: [Int32]) throws -> [Float] {
        try TrainInit.check(config, inputs: context, targets: nil, batch: 1, length: context.count)
        var rng = TrainRNG(seed: 0)
        _ = context.withUnsafeBufferPointer { inp in
            forward(inp.baseAddress!, nil, wanted: [context.count - 1], batch: 1, length: context.count, train: false, gradScale: 0, rng: &rng)
        }
        return Array(UnsafeBufferPointer(start: logitsStore!, count: config.vocabularySize))
    }

    // MARK: forward, backward

    /// The forward pass. Logits are computed for `wanted` rows, or (nil) for the scored rows of `targets`; with
    /// targets returns their mean loss (and, when `train`, leaves dlogits for the backward).
    func forward(_ tokens: UnsafePointer<Int32>, _ targets: UnsafePointer<Int32>?, wanted: [Int]?, batch B: Int, length T: Int,
                 train: Bool, gradScale: Float, rng: inout TrainRNG) -> Float {
        let N = B * T, C = config.dim, V = config.vocabularySize
        ensure(rows: N)
        profile.time(.embedding) {
            let parts = Chunks.count(N), x0 = xs[0]
            pool.run(parts) { k in
                for r in Chunks.range(k, parts, N) { tokenEmbd.row(Int(tokens[r]), into: x0 + r * C) }
            }
        }
        rngAt = []
        for l in 0..<config.layers {
            rngAt.append(rng)
            blockForward(l, acts[gradCheckpoint ? 0 : l], batch: B, length: T, train: train, rng: &rng)
        }
        // Final norm and output only on the rows that need logits.
        outRows = wanted ?? (0..<N).filter { targets![$0] >= 0 }
        let S = outRows.count
        let logits = ensureLogits(rows: S)
        guard S > 0 else { return 0 }
        let last = xs[config.layers]
        for (i, r) in outRows.enumerated() { (xS + i * C).update(from: last + r * C, count: C) }
        profile.time(.norm) { RMSNorm.forward(nfS, rstd: rstdS, xS, weight: outputNorm, n: S, dim: C, eps: config.normEps, pool: pool) }
        profile.time(.loss) { output.forward(logits, ldy: V, nfS, ldx: C, n: S, scratch: tileScratch, pool: pool) }
        guard let targets else { return 0 }
        let picked = outRows.map { targets[$0] }
        return profile.time(.loss) {
            picked.withUnsafeBufferPointer { t in
                CrossEntropy.forwardBackward(logits: logits, losses: losses, targets: t.baseAddress!, n: S, vocabulary: V,
                                             gradScale: gradScale, grad: train, pool: pool)
            }
        }
    }

    /// One block: xs[l] → xs[l + 1], activations into `a`, dropout masks drawn from `rng` when training.
    private func blockForward(_ l: Int, _ a: BlockActs, batch B: Int, length T: Int, train: Bool, rng: inout TrainRNG) {
        let N = B * T, C = config.dim, F = config.ffnDim, W = qkvWidth, eps = config.normEps
        let blk = blocks[l], x = xs[l], out = xs[l + 1]
        let shape = Attention.Shape(batch: B, length: T, heads: heads, kvHeads: kvHeads, headDim: headDim)
        profile.time(.norm) { RMSNorm.forward(a.n1, rstd: a.rstd1, x, weight: blk.attnNorm, n: N, dim: C, eps: eps, pool: pool) }
        profile.time(.linear) {
            FrozenLinear.forward(blk.qkv, outputs: [(a.qkv, W), (a.qkv + qDim, W), (a.qkv + qDim + kvDim, W)], a.n1,
                                 ldx: C, n: N, scratch: tileScratch, pool: pool)
            loraForward(blk, 0, a, y: a.qkv, ldy: W, x: a.n1, ldx: C, n: N, train: train, rng: &rng)
            loraForward(blk, 1, a, y: a.qkv + qDim, ldy: W, x: a.n1, ldx: C, n: N, train: train, rng: &rng)
            loraForward(blk, 2, a, y: a.qkv + qDim + kvDim, ldy: W, x: a.n1, ldx: C, n: N, train: train, rng: &rng)
        }
        profile.time(.attention) {
            ropeTable.withUnsafeBufferPointer { rope in
                RoPE.apply(a.qkv, ld: W, batch: B, length: T, heads: heads, headDim: headDim, table: rope.baseAddress!, inverse: false, pool: pool)
                RoPE.apply(a.qkv + qDim, ld: W, batch: B, length: T, heads: kvHeads, headDim: headDim, table: rope.baseAddress!,
                           inverse: false, pool: pool)
            }
            Attention.forward(out: a.att, ldo: qDim, q: a.qkv, ldq: W, k: a.qkv + qDim, ldk: W, v: a.qkv + qDim + kvDim, ldv: W,
                              lse: a.lse, shape: shape, scratch: attScratch, pool: pool)
        }
        profile.time(.linear) {
            a.resMid.update(from: x, count: N * C)
            blk.w[3].forward(a.resMid, ldy: C, a.att, ldx: qDim, n: N, accumulate: true, scratch: tileScratch, pool: pool)
            loraForward(blk, 3, a, y: a.resMid, ldy: C, x: a.att, ldx: qDim, n: N, train: train, rng: &rng)
        }
        profile.time(.norm) { RMSNorm.forward(a.n2, rstd: a.rstd2, a.resMid, weight: blk.ffnNorm, n: N, dim: C, eps: eps, pool: pool) }
        profile.time(.linear) {
            FrozenLinear.forward(blk.gateUp, outputs: [(a.g, F), (a.u, F)], a.n2, ldx: C, n: N, scratch: tileScratch, pool: pool)
            loraForward(blk, 4, a, y: a.g, ldy: F, x: a.n2, ldx: C, n: N, train: train, rng: &rng)
            loraForward(blk, 5, a, y: a.u, ldy: F, x: a.n2, ldx: C, n: N, train: train, rng: &rng)
        }
        profile.time(.activation) { SwiGLU.forward(a.act, gate: a.g, up: a.u, n: N, dim: F, pool: pool) }
        profile.time(.linear) {
            out.update(from: a.resMid, count: N * C)
            blk.w[6].forward(out, ldy: C, a.act, ldx: F, n: N, accumulate: true, scratch: tileScratch, pool: pool)
            loraForward(blk, 6, a, y: out, ldy: C, x: a.act, ldx: F, n: N, train: train, rng: &rng)
        }
    }

    /// xd = x∘mask into the `xd` scratch (drawing the mask when `draw`); returns the adapter's input and its stride.
    private func dropped(_ x: UnsafePointer<Float>, ldx: Int, n: Int, inDim: Int, mask: FloatPointer, draw: Bool,
                         rng: inout TrainRNG) -> UnsafePointer<Float> {
        for r in 0..<n { (xd + r * inDim).update(from: x + r * ldx, count: inDim) }
        if draw {
            profile.time(.dropout) { Dropout.forward(xd, mask: mask, count: n * inDim, rate: lora.dropout, rng: &rng) }
        } else {
            let parts = Chunks.count(n * inDim / 128), count = n * inDim, d = xd!
            pool.run(parts) { k in
                for i in Chunks.range(k, parts, count) { d[i] *= mask[i] }
            }
        }
        return UnsafePointer(xd)
    }

    private func loraForward(_ blk: Block, _ t: Int, _ a: BlockActs, y: FloatPointer, ldy: Int, x: UnsafePointer<Float>, ldx: Int,
                             n: Int, train: Bool, rng: inout TrainRNG) {
        guard let p = blk.lora[t] else { return }
        var input = x, ld = ldx
        if train, let mask = a.mask[t] {
            input = dropped(x, ldx: ldx, n: n, inDim: p.inDim, mask: mask, draw: true, rng: &rng)
            ld = p.inDim
        }
        LoRALinear.forward(y, ldy: ldy, h: a.h[t]!, input, ldx: ld, a: p.a.value.baseAddress!, b: p.b.value.baseAddress!, scale: scale,
                           n: n, inDim: p.inDim, outDim: p.outDim, rank: lora.rank, pool: pool)
    }

    private func loraBackward(_ blk: Block, _ t: Int, _ a: BlockActs, dx: FloatPointer, lddx: Int, dy: UnsafePointer<Float>, lddy: Int,
                              x: UnsafePointer<Float>, ldx: Int, n: Int) {
        guard let p = blk.lora[t] else { return }
        var input = x, ld = ldx
        var unused = TrainRNG(seed: 0)
        if let mask = a.mask[t] {
            input = dropped(x, ldx: ldx, n: n, inDim: p.inDim, mask: mask, draw: false, rng: &unused)
            ld = p.inDim
        }
        LoRALinear.backward(dx: dx, lddx: lddx, dA: p.a.grad.baseAddress!, dB: p.b.grad.baseAddress!, dy: dy, lddy: lddy, h: a.h[t]!,
                            xd: input, ldx: ld, mask: a.mask[t].map { UnsafePointer($0) }, a: p.a.value.baseAddress!,
                            b: p.b.value.baseAddress!, scale: scale, n: n, inDim: p.inDim, outDim: p.outDim, rank: lora.rank,
                            g: gbuf, tmp: tmp, pool: pool)
    }

    func backward(batch B: Int, length T: Int) {
        let N = B * T, C = config.dim, F = config.ffnDim, V = config.vocabularySize, W = qkvWidth
        let S = outRows.count
        let shape = Attention.Shape(batch: B, length: T, heads: heads, kvHeads: kvHeads, headDim: headDim)
        profile.time(.loss, backward: true) {
            output.backward(dx: dnfS, lddx: C, dy: logitsStore!, lddy: V, n: S, accumulate: false, scratch: tileScratch, pool: pool)
        }
        dxS.update(repeating: 0, count: S * C)
        profile.time(.norm, backward: true) {
            RMSNorm.backward(dx: dxS, dWeight: normSink, dy: dnfS, x: xS, rstd: rstdS, weight: outputNorm, n: S, dim: C,
                             scratch: normScratch, pool: pool)
        }
        dres.update(repeating: 0, count: N * C)
        for (i, r) in outRows.enumerated() { (dres + r * C).update(from: dxS + i * C, count: C) }

        for l in stride(from: config.layers - 1, through: 0, by: -1) {
            let blk = blocks[l], a = acts[gradCheckpoint ? 0 : l]
            if gradCheckpoint {
                var r = rngAt[l]
                blockForward(l, a, batch: B, length: T, train: true, rng: &r)
            }
            // feed-forward: out = resMid + down(act)
            profile.time(.linear, backward: true) {
                blk.w[6].backward(dx: dact, lddx: F, dy: dres, lddy: C, n: N, accumulate: false, scratch: tileScratch, pool: pool)
                loraBackward(blk, 6, a, dx: dact, lddx: F, dy: dres, lddy: C, x: a.act, ldx: F, n: N)
            }
            profile.time(.activation, backward: true) { SwiGLU.backward(dGate: dg, dUp: du, dy: dact, gate: a.g, up: a.u, n: N, dim: F, pool: pool) }
            profile.time(.linear, backward: true) {
                FrozenLinear.backward(blk.gateUp, dys: [(UnsafePointer(dg!), F), (UnsafePointer(du!), F)], dx: dsmall, lddx: C, n: N, accumulate: false,
                                      scratch: tileScratch, pool: pool)
                loraBackward(blk, 4, a, dx: dsmall, lddx: C, dy: dg, lddy: F, x: a.n2, ldx: C, n: N)
                loraBackward(blk, 5, a, dx: dsmall, lddx: C, dy: du, lddy: F, x: a.n2, ldx: C, n: N)
            }
            profile.time(.norm, backward: true) {
                RMSNorm.backward(dx: dres, dWeight: normSink, dy: dsmall, x: a.resMid, rstd: a.rstd2, weight: blk.ffnNorm, n: N, dim: C,
                                 scratch: normScratch, pool: pool)
            }
            // attention: resMid = x + o(attention(q, k, v))
            profile.time(.linear, backward: true) {
                blk.w[3].backward(dx: datt, lddx: qDim, dy: dres, lddy: C, n: N, accumulate: false, scratch: tileScratch, pool: pool)
                loraBackward(blk, 3, a, dx: datt, lddx: qDim, dy: dres, lddy: C, x: a.att, ldx: qDim, n: N)
            }
            profile.time(.attention, backward: true) {
                Attention.backward(dq: dqkv, dk: dqkv + qDim, dv: dqkv + qDim + kvDim, dOut: datt, out: a.att, ldo: qDim, q: a.qkv, ldq: W,
                                   k: a.qkv + qDim, ldk: W, v: a.qkv + qDim + kvDim, ldv: W, lse: a.lse, shape: shape,
                                   scratch: attScratch, pool: pool)
                ropeTable.withUnsafeBufferPointer { rope in
                    RoPE.apply(dqkv, ld: W, batch: B, length: T, heads: heads, headDim: headDim, table: rope.baseAddress!, inverse: true, pool: pool)
                    RoPE.apply(dqkv + qDim, ld: W, batch: B, length: T, heads: kvHeads, headDim: headDim, table: rope.baseAddress!,
                               inverse: true, pool: pool)
                }
            }
            // Block 0's input gradient would only reach the frozen embedding: its q/k/v dX and attn_norm are skipped.
            if l == 0 {
                for t in 0..<3 {
                    loraBackward(blk, t, a, dx: dsmall, lddx: C, dy: dqkv + [0, qDim, qDim + kvDim][t], lddy: W, x: a.n1, ldx: C, n: N)
                }
                continue
            }
            profile.time(.linear, backward: true) {
                FrozenLinear.backward(blk.qkv, dys: [(UnsafePointer(dqkv!), W), (UnsafePointer(dqkv + qDim), W), (UnsafePointer(dqkv + qDim + kvDim), W)], dx: dsmall,
                                      lddx: C, n: N, accumulate: false, scratch: tileScratch, pool: pool)
                loraBackward(blk, 0, a, dx: dsmall, lddx: C, dy: dqkv, lddy: W, x: a.n1, ldx: C, n: N)
                loraBackward(blk, 1, a, dx: dsmall, lddx: C, dy: dqkv + qDim, lddy: W, x: a.n1, ldx: C, n: N)
                loraBackward(blk, 2, a, dx: dsmall, lddx: C, dy: dqkv + qDim + kvDim, lddy: W, x: a.n1, ldx: C, n: N)
            }
            profile.time(.norm, backward: true) {
                RMSNorm.backward(dx: dres, dWeight: normSink, dy: dsmall, x: xs[l], rstd: a.rstd1, weight: blk.attnNorm, n: N, dim: C,
                                 scratch: normScratch, pool: pool)
            }
        }
    }
}
