// Llama for training from scratch: token embedding (no learned positions), pre-RMSNorm blocks (RMSNorm → attn_q,
// attn_k, attn_v without bias → RoPE in ggml's NORM mode on q and k → causal attention with GQA → attn_output,
// residual; RMSNorm → silu(ffn_gate)·ffn_up → ffn_down, residual), a final RMSNorm and output.weight (or the token
// embedding when tied). Dropout as GPT-2's: on the embedding, the attention output and the MLP output.
//
// Same scheme as GPTTrainModel: activations in buffers allocated once, ops' backwards called in reverse. q, k and v
// share one (N, C + 2·kvDim) buffer (q columns first), so attention reads them with one row stride.

import Foundation
import Quant

public final class LlamaTrainModel: TrainableModel {
    public let config: ModelConfig
    public let parameters: [Parameter]
    /// The threads the ops run on (results do not depend on its size).
    public var pool: ThreadPool = .shared
    /// Per-op-family timing when set.
    public var profile: OpProfile?

    struct Block {
        let n1, wq, wk, wv, wo, n2, gate, up, down: Parameter
    }
    let wte, normf: Parameter
    let untiedOutput: Parameter?
    let blocks: [Block]
    var outWeight: Parameter { untiedOutput ?? wte }
    let headDim: Int, kvDim: Int, qkvWidth: Int
    private let ropeTable: [Float]

    /// A model with all-zero weights (load them by name).
    public init(config: ModelConfig) throws {
        try config.validate()
        guard config.architecture == "llama" else { throw FinetuneError.config("LlamaTrainModel needs architecture llama, not \(config.architecture)") }
        self.config = config
        let C = config.dim, F = config.ffnDim, V = config.vocabularySize
        headDim = C / config.heads
        kvDim = headDim * config.kvHeads
        qkvWidth = C + 2 * kvDim
        var ps: [Parameter] = []
        func p(_ name: String, _ shape: [Int], decay: Bool = false) -> Parameter {
            let x = Parameter(name: name, shape: shape, decay: decay)
            ps.append(x)
            return x
        }
        wte = p("token_embd.weight", [V, C])
        var bs: [Block] = []
        for l in 0..<config.layers {
            let n = "blk.\(l)."
            bs.append(Block(
                n1: p(n + "attn_norm.weight", [C]),
                wq: p(n + "attn_q.weight", [C, C], decay: true), wk: p(n + "attn_k.weight", [kvDim, C], decay: true),
                wv: p(n + "attn_v.weight", [kvDim, C], decay: true), wo: p(n + "attn_output.weight", [C, C], decay: true),
                n2: p(n + "ffn_norm.weight", [C]),
                gate: p(n + "ffn_gate.weight", [F, C], decay: true), up: p(n + "ffn_up.weight", [F, C], decay: true),
                down: p(n + "ffn_down.weight", [C, F], decay: true)))
        }
        blocks = bs
        normf = p("output_norm.weight", [C])
        untiedOutput = config.tiedOutput ? nil : p("output.weight", [V, C], decay: true)
        parameters = ps
        ropeTable = RoPE.table(length: config.contextLength, headDim: headDim, base: config.ropeTheta)
    }

    /// A freshly initialized model (the fixed init rule, drawn from `rng`).
    public convenience init(config: ModelConfig, rng: inout TrainRNG) throws {
        try self.init(config: config)
        TrainInit.initialize(parameters, layers: config.layers, rng: &rng)
    }

    // MARK: activations

    struct LayerActs {
        var n1, rstd1, qkv, att, lse, maskA, resMid, n2, rstd2, g, u, act, maskM, resOut: FloatPointer
    }
    private let arena = Arena()
    private var capacity = 0
    private var acts: [LayerActs] = []
    private var x0: FloatPointer!, mask0: FloatPointer!, nf: FloatPointer!, rstdf: FloatPointer!
    private var logitsBuf: FloatPointer!, losses: FloatPointer!, proj: FloatPointer!
    private var dres: FloatPointer!, dtmp: FloatPointer!, dsmall: FloatPointer!, dqkv: FloatPointer!
    private var dact: FloatPointer!, dg: FloatPointer!, du: FloatPointer!
    private var attScratch: FloatPointer!, normScratch: FloatPointer!

    /// Bytes of activation buffers currently allocated.
    public var activationBytes: Int { arena.bytes }

    private func ensure(rows n: Int) {
        if n <= capacity { return }
        arena.reset()
        let C = config.dim, F = config.ffnDim, H = config.heads, V = config.vocabularySize
        let a = arena, dropN = config.dropout > 0 ? n * C : 0
        acts = (0..<config.layers).map { _ in
            LayerActs(n1: a.floats(n * C), rstd1: a.floats(n), qkv: a.floats(n * qkvWidth), att: a.floats(n * C), lse: a.floats(n * H),
                      maskA: a.floats(dropN), resMid: a.floats(n * C), n2: a.floats(n * C), rstd2: a.floats(n),
                      g: a.floats(n * F), u: a.floats(n * F), act: a.floats(n * F), maskM: a.floats(dropN), resOut: a.floats(n * C))
        }
        x0 = a.floats(n * C); mask0 = a.floats(dropN)
        nf = a.floats(n * C); rstdf = a.floats(n)
        logitsBuf = a.floats(n * V); losses = a.floats(n); proj = a.floats(n * C)
        dres = a.floats(n * C); dtmp = a.floats(n * C); dsmall = a.floats(n * C); dqkv = a.floats(n * qkvWidth)
        dact = a.floats(n * F); dg = a.floats(n * F); du = a.floats(n * F)
        attScratch = a.floats(Attention.maxParts * Attention.scratchPerPart(maxLength: config.contextLength, headDim: config.dim / config.heads))
        normScratch = a.floats(Chunks.max * 2 * C)
        capacity = n
    }

    // MARK: TrainableModel

    public func forwardBackward(inputs: [Int32], targets: [Int32], batch: Int, length: Int, gradScale: Float,
                                rng: inout TrainRNG) throws -> Float {
        try passForwardBackward(inputs: inputs, targets: targets, batch: batch, length: length, gradScale: gradScale, rng: &rng)
    }

    public func loss(inputs: [Int32], targets: [Int32], batch: Int, length: Int) throws -> Float {
        try passLoss(inputs: inputs, targets: targets, batch: batch, length: length)
    }

    public func logits(context: [Int32]) throws -> [Float] { try passLogits(context: context) }

    var lastLogits: FloatPointer { logitsBuf }

    // MARK: forward, backward

    func forward(_ tokens: UnsafePointer<Int32>, _ targets: UnsafePointer<Int32>?, batch B: Int, length T: Int, train: Bool,
                         gradScale: Float, rng: inout TrainRNG) -> Float {
        let N = B * T, C = config.dim, F = config.ffnDim, V = config.vocabularySize, eps = config.normEps
        let W = qkvWidth, kvd = kvDim
        let drop = train && config.dropout > 0, p = config.dropout
        ensure(rows: N)
        let shape = Attention.Shape(batch: B, length: T, heads: config.heads, kvHeads: config.kvHeads, headDim: headDim)
        profile.time(.embedding) {
            Embedding.forward(x0, tokens: tokens, tokenTable: wte.value.baseAddress!, positionTable: nil, batch: B, length: T, dim: C, pool: pool)
        }
        if drop { profile.time(.dropout) { Dropout.forward(x0, mask: mask0, count: N * C, rate: p, rng: &rng) } }
        var res = UnsafePointer(x0!)
        ropeTable.withUnsafeBufferPointer { rope in
            for (l, w) in blocks.enumerated() {
                let a = acts[l]
                profile.time(.norm) {
                    RMSNorm.forward(a.n1, rstd: a.rstd1, res, weight: w.n1.value.baseAddress!, n: N, dim: C, eps: eps, pool: pool)
                }
                profile.time(.linear) {
                    Linear.forward(a.qkv, ldy: W, a.n1, ldx: C, weight: w.wq.value.baseAddress!, bias: nil, n: N, inDim: C, outDim: C, pool: pool)
                    Linear.forward(a.qkv + C, ldy: W, a.n1, ldx: C, weight: w.wk.value.baseAddress!, bias: nil, n: N, inDim: C, outDim: kvd, pool: pool)
                    Linear.forward(a.qkv + C + kvd, ldy: W, a.n1, ldx: C, weight: w.wv.value.baseAddress!, bias: nil, n: N, inDim: C, outDim: kvd, pool: pool)
                }
                profile.time(.attention) {
                    RoPE.apply(a.qkv, ld: W, batch: B, length: T, heads: config.heads, headDim: headDim, table: rope.baseAddress!, inverse: false, pool: pool)
                    RoPE.apply(a.qkv + C, ld: W, batch: B, length: T, heads: config.kvHeads, headDim: headDim, table: rope.baseAddress!, inverse: false, pool: pool)
                    Attention.forward(out: a.att, ldo: C, q: a.qkv, ldq: W, k: a.qkv + C, ldk: W, v: a.qkv + C + kvd, ldv: W,
                                      lse: a.lse, shape: shape, scratch: attScratch, pool: pool)
                }
                profile.time(.linear) {
                    Linear.forward(proj, ldy: C, a.att, ldx: C, weight: w.wo.value.baseAddress!, bias: nil, n: N, inDim: C, outDim: C, pool: pool)
                }
                if drop { profile.time(.dropout) { Dropout.forward(proj, mask: a.maskA, count: N * C, rate: p, rng: &rng) } }
                Residual.add(a.resMid, res, proj, count: N * C, pool: pool)
                profile.time(.norm) {
                    RMSNorm.forward(a.n2, rstd: a.rstd2, a.resMid, weight: w.n2.value.baseAddress!, n: N, dim: C, eps: eps, pool: pool)
                }
                profile.time(.linear) {
                    Linear.forward(a.g, ldy: F, a.n2, ldx: C, weight: w.gate.value.baseAddress!, bias: nil, n: N, inDim: C, outDim: F, pool: pool)
                    Linear.forward(a.u, ldy: F, a.n2, ldx: C, weight: w.up.value.baseAddress!, bias: nil, n: N, inDim: C, outDim: F, pool: pool)
                }
                profile.time(.activation) { SwiGLU.forward(a.act, gate: a.g, up: a.u, n: N, dim: F, pool: pool) }
                profile.time(.linear) {
                    Linear.forward(proj, ldy: C, a.act, ldx: F, weight: w.down.value.baseAddress!, bias: nil, n: N, inDim: F, outDim: C, pool: pool)
                }
                if drop { profile.time(.dropout) { Dropout.forward(proj, mask: a.maskM, count: N * C, rate: p, rng: &rng) } }
                Residual.add(a.resOut, a.resMid, proj, count: N * C, pool: pool)
                res = UnsafePointer(a.resOut)
            }
        }
        profile.time(.norm) { RMSNorm.forward(nf, rstd: rstdf, res, weight: normf.value.baseAddress!, n: N, dim: C, eps: eps, pool: pool) }
        profile.time(.loss) {
            Linear.forward(logitsBuf, ldy: V, nf, ldx: C, weight: outWeight.value.baseAddress!, bias: nil, n: N, inDim: C, outDim: V, pool: pool)
        }
        guard let targets else { return 0 }
        return profile.time(.loss) {
            CrossEntropy.forwardBackward(logits: logitsBuf, losses: losses, targets: targets, n: N, vocabulary: V, gradScale: gradScale,
                                         grad: train, pool: pool)
        }
    }

    func backward(_ tokens: UnsafePointer<Int32>, batch B: Int, length T: Int) {
        let N = B * T, C = config.dim, F = config.ffnDim, V = config.vocabularySize
        let W = qkvWidth, kvd = kvDim
        let drop = config.dropout > 0
        let shape = Attention.Shape(batch: B, length: T, heads: config.heads, kvHeads: config.kvHeads, headDim: headDim)
        let last = acts[config.layers - 1].resOut
        profile.time(.loss, backward: true) {
            Linear.backward(dx: dsmall, lddx: C, dWeight: outWeight.grad.baseAddress!, dBias: nil, dy: logitsBuf, lddy: V, x: nf, ldx: C,
                            weight: outWeight.value.baseAddress!, n: N, inDim: C, outDim: V, pool: pool)
        }
        dres.update(repeating: 0, count: N * C)
        profile.time(.norm, backward: true) {
            RMSNorm.backward(dx: dres, dWeight: normf.grad.baseAddress!, dy: dsmall, x: last, rstd: rstdf, weight: normf.value.baseAddress!,
                             n: N, dim: C, scratch: normScratch, pool: pool)
        }
        ropeTable.withUnsafeBufferPointer { rope in
            for l in stride(from: config.layers - 1, through: 0, by: -1) {
                let a = acts[l], w = blocks[l]
                let resIn = l == 0 ? x0! : acts[l - 1].resOut
                var dy = UnsafePointer(dres!)
                if drop { profile.time(.dropout, backward: true) { Dropout.backward(dx: dtmp, dy: dres, mask: a.maskM, count: N * C, pool: pool) }; dy = UnsafePointer(dtmp!) }
                profile.time(.linear, backward: true) {
                    Linear.backward(dx: dact, lddx: F, dWeight: w.down.grad.baseAddress!, dBias: nil, dy: dy, lddy: C, x: a.act, ldx: F,
                                    weight: w.down.value.baseAddress!, n: N, inDim: F, outDim: C, pool: pool)
                }
                profile.time(.activation, backward: true) { SwiGLU.backward(dGate: dg, dUp: du, dy: dact, gate: a.g, up: a.u, n: N, dim: F, pool: pool) }
                profile.time(.linear, backward: true) {
                    Linear.backward(dx: dsmall, lddx: C, dWeight: w.gate.grad.baseAddress!, dBias: nil, dy: dg, lddy: F, x: a.n2, ldx: C,
                                    weight: w.gate.value.baseAddress!, n: N, inDim: C, outDim: F, pool: pool)
                    Linear.backward(dx: dsmall, lddx: C, accumulateDx: true, dWeight: w.up.grad.baseAddress!, dBias: nil, dy: du, lddy: F,
                                    x: a.n2, ldx: C, weight: w.up.value.baseAddress!, n: N, inDim: C, outDim: F, pool: pool)
                }
                profile.time(.norm, backward: true) {
                    RMSNorm.backward(dx: dres, dWeight: w.n2.grad.baseAddress!, dy: dsmall, x: a.resMid, rstd: a.rstd2,
                                     weight: w.n2.value.baseAddress!, n: N, dim: C, scratch: normScratch, pool: pool)
                }
                dy = UnsafePointer(dres!)
                if drop { profile.time(.dropout, backward: true) { Dropout.backward(dx: dtmp, dy: dres, mask: a.maskA, count: N * C, pool: pool) }; dy = UnsafePointer(dtmp!) }
                profile.time(.linear, backward: true) {
                    Linear.backward(dx: dsmall, lddx: C, dWeight: w.wo.grad.baseAddress!, dBias: nil, dy: dy, lddy: C, x: a.att, ldx: C,
                                    weight: w.wo.value.baseAddress!, n: N, inDim: C, outDim: C, pool: pool)
                }
                profile.time(.attention, backward: true) {
                    Attention.backward(dq: dqkv, dk: dqkv + C, dv: dqkv + C + kvd, dOut: dsmall, out: a.att, ldo: C, q: a.qkv, ldq: W,
                                       k: a.qkv + C, ldk: W, v: a.qkv + C + kvd, ldv: W, lse: a.lse, shape: shape, scratch: attScratch, pool: pool)
                    RoPE.apply(dqkv, ld: W, batch: B, length: T, heads: config.heads, headDim: headDim, table: rope.baseAddress!, inverse: true, pool: pool)
                    RoPE.apply(dqkv + C, ld: W, batch: B, length: T, heads: config.kvHeads, headDim: headDim, table: rope.baseAddress!, inverse: true, pool: pool)
                }
                profile.time(.linear, backward: true) {
                    Linear.backward(dx: dsmall, lddx: C, dWeight: w.wq.grad.baseAddress!, dBias: nil, dy: dqkv, lddy: W, x: a.n1, ldx: C,
                                    weight: w.wq.value.baseAddress!, n: N, inDim: C, outDim: C, pool: pool)
                    Linear.backward(dx: dsmall, lddx: C, accumulateDx: true, dWeight: w.wk.grad.baseAddress!, dBias: nil, dy: dqkv + C, lddy: W,
                                    x: a.n1, ldx: C, weight: w.wk.value.baseAddress!, n: N, inDim: C, outDim: kvd, pool: pool)
                    Linear.backward(dx: dsmall, lddx: C, accumulateDx: true, dWeight: w.wv.grad.baseAddress!, dBias: nil, dy: dqkv + C + kvd,
                                    lddy: W, x: a.n1, ldx: C, weight: w.wv.value.baseAddress!, n: N, inDim: C, outDim: kvd, pool: pool)
                }
                profile.time(.norm, backward: true) {
                    RMSNorm.backward(dx: dres, dWeight: w.n1.grad.baseAddress!, dy: dsmall, x: resIn, rstd: a.rstd1,
                                     weight: w.n1.value.baseAddress!, n: N, dim: C, scratch: normScratch, pool: pool)
                }
            }
        }
        var dx0 = UnsafePointer(dres!)
        if drop { Dropout.backward(dx: dtmp, dy: dres, mask: mask0, count: N * C, pool: pool); dx0 = UnsafePointer(dtmp!) }
        profile.time(.embedding, backward: true) {
            Embedding.backward(dTokenTable: wte.grad.baseAddress!, dPositionTable: nil, dx: dx0, tokens: tokens, batch: B, length: T, dim: C)
        }
    }
}
