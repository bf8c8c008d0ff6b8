// GPT-2 for training from scratch: learned token and position embeddings, pre-LayerNorm blocks (LayerNorm with
// bias → fused qkv with bias → causal attention → attn_output with bias, residual; LayerNorm → ffn_up with bias →
// tanh GELU → ffn_down with bias, residual), a final LayerNorm and the output projection (token_embd when tied).
// Dropout (inverted, config.dropout) on the embedding sum, the attention block's output and the MLP's output.
//
// forward then backward, llm.c style: the forward keeps every activation the backward needs in buffers allocated
// once for the largest batch×length seen; the backward calls each op's backward in reverse, accumulating into the
// parameters' grads. Buffers are (N, width) with N = batch·length token rows, row-major.

import Foundation
import Quant

public final class GPTTrainModel: TrainableModel {
    public let config: ModelConfig
    public let parameters: [Parameter]
    /// The threads the ops run on (results do not depend on its size).
    public var pool: ThreadPool = .shared
    /// Per-op-family timing when set.
    public var profile: OpProfile?

    struct Block {
        let ln1w, ln1b, qkvw, qkvb, attnw, attnb, ln2w, ln2b, upw, upb, downw, downb: Parameter
    }
    let wte, wpe, lnfw, lnfb: Parameter
    let untiedOutput: Parameter?
    let blocks: [Block]
    var outWeight: Parameter { untiedOutput ?? wte }

    /// A model with all-zero weights (load them by name).
    public init(config: ModelConfig) throws {
        try config.validate()
        guard config.architecture == "gpt2" else { throw FinetuneError.config("GPTTrainModel needs architecture gpt2, not \(config.architecture)") }
        self.config = config
        let C = config.dim, F = config.ffnDim, V = config.vocabularySize
        var ps: [Parameter] = []
        func p(_ name: String, _ shape: [Int], decay: Bool = false) -> Parameter {
            let x = Parameter(name: name, shape: shape, decay: decay)
            ps.append(x)
            return x
        }
        wte = p("token_embd.weight", [V, C])
        wpe = p("position_embd.weight", [config.contextLength, C])
        var bs: [Block] = []
        for l in 0..<config.layers {
            let n = "blk.\(l)."
            bs.append(Block(
                ln1w: p(n + "attn_norm.weight", [C]), ln1b: p(n + "attn_norm.bias", [C]),
                qkvw: p(n + "attn_qkv.weight", [3 * C, C], decay: true), qkvb: p(n + "attn_qkv.bias", [3 * C]),
                attnw: p(n + "attn_output.weight", [C, C], decay: true), attnb: p(n + "attn_output.bias", [C]),
                ln2w: p(n + "ffn_norm.weight", [C]), ln2b: p(n + "ffn_norm.bias", [C]),
                upw: p(n + "ffn_up.weight", [F, C], decay: true), upb: p(n + "ffn_up.bias", [F]),
                downw: p(n + "ffn_down.weight", [C, F], decay: true), downb: p(n + "ffn_down.bias", [C])))
        }
        blocks = bs
        lnfw = p("output_norm.weight", [C])
        lnfb = p("output_norm.bias", [C])
        untiedOutput = config.tiedOutput ? nil : p("output.weight", [V, C], decay: true)
        parameters = ps
    }

    /// A freshly initialized model (the fixed init rule, drawn from `rng`).
    public convenience init(config: ModelConfig, rng: inout TrainRNG) throws {
        try self.init(config: config)
        TrainInit.initialize(parameters, layers: config.layers, rng: &rng)
    }

    // MARK: activations

    struct LayerActs {
        var ln1, ln1Mean, ln1Rstd, qkv, att, lse, maskA, resMid, ln2, ln2Mean, ln2Rstd, fcPre, fcAct, maskM, resOut: FloatPointer
    }
    private let arena = Arena()
    private var capacity = 0
    private var acts: [LayerActs] = []
    private var x0: FloatPointer!, mask0: FloatPointer!, lnf: FloatPointer!, lnfMean: FloatPointer!, lnfRstd: FloatPointer!
    private var logitsBuf: FloatPointer!, losses: FloatPointer!, proj: FloatPointer!
    private var dres: FloatPointer!, dtmp: FloatPointer!, dsmall: FloatPointer!, dbig: FloatPointer!
    private var attScratch: FloatPointer!, normScratch: FloatPointer!

    /// Bytes of activation buffers currently allocated.
    public var activationBytes: Int { arena.bytes }

    private func ensure(rows n: Int) {
        if n <= capacity { return }
        arena.reset()
        let C = config.dim, F = config.ffnDim, H = config.heads, V = config.vocabularySize
        let a = arena
        acts = (0..<config.layers).map { _ in
            LayerActs(ln1: a.floats(n * C), ln1Mean: a.floats(n), ln1Rstd: a.floats(n), qkv: a.floats(n * 3 * C),
                      att: a.floats(n * C), lse: a.floats(n * H), maskA: a.floats(config.dropout > 0 ? n * C : 0),
                      resMid: a.floats(n * C), ln2: a.floats(n * C), ln2Mean: a.floats(n), ln2Rstd: a.floats(n),
                      fcPre: a.floats(n * F), fcAct: a.floats(n * F), maskM: a.floats(config.dropout > 0 ? n * C : 0),
                      resOut: a.floats(n * C))
        }
        x0 = a.floats(n * C); mask0 = a.floats(config.dropout > 0 ? n * C : 0)
        lnf = a.floats(n * C); lnfMean = a.floats(n); lnfRstd = a.floats(n)
        logitsBuf = a.floats(n * V); losses = a.floats(n); proj = a.floats(n * C)
        dres = a.floats(n * C); dtmp = a.floats(n * C); dsmall = a.floats(n * C); dbig = a.floats(n * max(3 * C, F))
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
        let drop = train && config.dropout > 0, p = config.dropout
        ensure(rows: N)
        let shape = Attention.Shape(batch: B, length: T, heads: config.heads, kvHeads: config.heads, headDim: C / config.heads)
        profile.time(.embedding) {
            Embedding.forward(x0, tokens: tokens, tokenTable: wte.value.baseAddress!, positionTable: wpe.value.baseAddress!,
                              batch: B, length: T, dim: C, pool: pool)
        }
        if drop { profile.time(.dropout) { Dropout.forward(x0, mask: mask0, count: N * C, rate: p, rng: &rng) } }
        var res = UnsafePointer(x0!)
        for (l, w) in blocks.enumerated() {
            let a = acts[l]
            profile.time(.norm) {
                LayerNorm.forward(a.ln1, mean: a.ln1Mean, rstd: a.ln1Rstd, res, weight: w.ln1w.value.baseAddress!,
                                  bias: w.ln1b.value.baseAddress!, n: N, dim: C, eps: eps, pool: pool)
            }
            profile.time(.linear) {
                Linear.forward(a.qkv, ldy: 3 * C, a.ln1, ldx: C, weight: w.qkvw.value.baseAddress!, bias: w.qkvb.value.baseAddress!,
                               n: N, inDim: C, outDim: 3 * C, pool: pool)
            }
            profile.time(.attention) {
                Attention.forward(out: a.att, ldo: C, q: a.qkv, ldq: 3 * C, k: a.qkv + C, ldk: 3 * C, v: a.qkv + 2 * C, ldv: 3 * C,
                                  lse: a.lse, shape: shape, scratch: attScratch, pool: pool)
            }
            profile.time(.linear) {
                Linear.forward(proj, ldy: C, a.att, ldx: C, weight: w.attnw.value.baseAddress!, bias: w.attnb.value.baseAddress!,
                               n: N, inDim: C, outDim: C, pool: pool)
            }
            if drop { profile.time(.dropout) { Dropout.forward(proj, mask: a.maskA, count: N * C, rate: p, rng: &rng) } }
            Residual.add(a.resMid, res, proj, count: N * C, pool: pool)
            profile.time(.norm) {
                LayerNorm.forward(a.ln2, mean: a.ln2Mean, rstd: a.ln2Rstd, a.resMid, weight: w.ln2w.value.baseAddress!,
                                  bias: w.ln2b.value.baseAddress!, n: N, dim: C, eps: eps, pool: pool)
            }
            profile.time(.linear) {
                Linear.forward(a.fcPre, ldy: F, a.ln2, ldx: C, weight: w.upw.value.baseAddress!, bias: nil, n: N, inDim: C, outDim: F, pool: pool)
            }
            profile.time(.activation) {
                GELU.forward(a.fcAct, preActivation: a.fcPre, bias: w.upb.value.baseAddress!, n: N, dim: F, pool: pool)
            }
            profile.time(.linear) {
                Linear.forward(proj, ldy: C, a.fcAct, ldx: F, weight: w.downw.value.baseAddress!, bias: w.downb.value.baseAddress!,
                               n: N, inDim: F, outDim: C, pool: pool)
            }
            if drop { profile.time(.dropout) { Dropout.forward(proj, mask: a.maskM, count: N * C, rate: p, rng: &rng) } }
            Residual.add(a.resOut, a.resMid, proj, count: N * C, pool: pool)
            res = UnsafePointer(a.resOut)
        }
        profile.time(.norm) {
            LayerNorm.forward(lnf, mean: lnfMean, rstd: lnfRstd, res, weight: lnfw.value.baseAddress!, bias: lnfb.value.baseAddress!,
                              n: N, dim: C, eps: eps, pool: pool)
        }
        profile.time(.loss) {
            Linear.forward(logitsBuf, ldy: V, lnf, ldx: C, weight: outWeight.value.baseAddress!, bias: nil, n: N, inDim: C, outDim: V, pool: pool)
        }
        guard let targets else { return 0 }
        return profile.time(.loss) {
            CrossEntropy.forwardBackward(logits: logitsBuf, losses: losses, targets: targets, n: N, vocabulary: V, gradScale: gradScale,
                                         grad: train, pool: pool)
        }
    }

    func backward(_ tokens: UnsafePointer<Int32>, batch B: Int, length T: Int) {
        let N = B * T, C = config.dim, F = config.ffnDim, V = config.vocabularySize
        let drop = config.dropout > 0
        let shape = Attention.Shape(batch: B, length: T, heads: config.heads, kvHeads: config.heads, headDim: C / config.heads)
        let last = acts[config.layers - 1].resOut
        profile.time(.loss, backward: true) {
            Linear.backward(dx: dsmall, lddx: C, dWeight: outWeight.grad.baseAddress!, dBias: nil, dy: logitsBuf, lddy: V, x: lnf, ldx: C,
                            weight: outWeight.value.baseAddress!, n: N, inDim: C, outDim: V, pool: pool)
        }
        dres.update(repeating: 0, count: N * C)
        profile.time(.norm, backward: true) {
            LayerNorm.backward(dx: dres, dWeight: lnfw.grad.baseAddress!, dBias: lnfb.grad.baseAddress!, dy: dsmall, x: last, mean: lnfMean,
                               rstd: lnfRstd, weight: lnfw.value.baseAddress!, n: N, dim: C, scratch: normScratch, pool: pool)
        }
        for l in stride(from: config.layers - 1, through: 0, by: -1) {
            let a = acts[l], w = blocks[l]
            let resIn = l == 0 ? x0! : acts[l - 1].resOut
            // resOut = resMid + drop(ffn_down(gelu(ffn_up(ln2(resMid)))))
            var dy = UnsafePointer(dres!)
            if drop { profile.time(.dropout, backward: true) { Dropout.backward(dx: dtmp, dy: dres, mask: a.maskM, count: N * C, pool: pool) }; dy = UnsafePointer(dtmp!) }
            profile.time(.linear, backward: true) {
                Linear.backward(dx: dbig, lddx: F, dWeight: w.downw.grad.baseAddress!, dBias: w.downb.grad.baseAddress!, dy: dy, lddy: C,
                                x: a.fcAct, ldx: F, weight: w.downw.value.baseAddress!, n: N, inDim: F, outDim: C, pool: pool)
            }
            profile.time(.activation, backward: true) { GELU.backward(dh: dbig, h: a.fcPre, dy: dbig, n: N, dim: F, pool: pool) }
            profile.time(.linear, backward: true) {
                Linear.backward(dx: dsmall, lddx: C, dWeight: w.upw.grad.baseAddress!, dBias: w.upb.grad.baseAddress!, dy: dbig, lddy: F,
                                x: a.ln2, ldx: C, weight: w.upw.value.baseAddress!, n: N, inDim: C, outDim: F, pool: pool)
            }
            profile.time(.norm, backward: true) {
                LayerNorm.backward(dx: dres, dWeight: w.ln2w.grad.baseAddress!, dBias: w.ln2b.grad.baseAddress!, dy: dsmall, x: a.resMid,
                                   mean: a.ln2Mean, rstd: a.ln2Rstd, weight: w.ln2w.value.baseAddress!, n: N, dim: C, scratch: normScratch, pool: pool)
            }
            // resMid = resIn + drop(attn_output(attention(qkv(ln1(resIn)))))
            dy = UnsafePointer(dres!)
            if drop { profile.time(.dropout, backward: true) { Dropout.backward(dx: dtmp, dy: dres, mask: a.maskA, count: N * C, pool: pool) }; dy = UnsafePointer(dtmp!) }
            profile.time(.linear, backward: true) {
                Linear.backward(dx: dsmall, lddx: C, dWeight: w.attnw.grad.baseAddress!, dBias: w.attnb.grad.baseAddress!, dy: dy, lddy: C,
                                x: a.att, ldx: C, weight: w.attnw.value.baseAddress!, n: N, inDim: C, outDim: C, pool: pool)
            }
            profile.time(.attention, backward: true) {
                Attention.backward(dq: dbig, dk: dbig + C, dv: dbig + 2 * C, dOut: dsmall, out: a.att, ldo: C, q: a.qkv, ldq: 3 * C,
                                   k: a.qkv + C, ldk: 3 * C, v: a.qkv + 2 * C, ldv: 3 * C, lse: a.lse, shape: shape,
                                   scratch: attScratch, pool: pool)
            }
            profile.time(.linear, backward: true) {
                Linear.backward(dx: dsmall, lddx: C, dWeight: w.qkvw.grad.baseAddress!, dBias: w.qkvb.grad.baseAddress!, dy: dbig, lddy: 3 * C,
                                x: a.ln1, ldx: C, weight: w.qkvw.value.baseAddress!, n: N, inDim: C, outDim: 3 * C, pool: pool)
            }
            profile.time(.norm, backward: true) {
                LayerNorm.backward(dx: dres, dWeight: w.ln1w.grad.baseAddress!, dBias: w.ln1b.grad.baseAddress!, dy: dsmall, x: resIn,
                                   mean: a.ln1Mean, rstd: a.ln1Rstd, weight: w.ln1w.value.baseAddress!, n: N, dim: C, scratch: normScratch, pool: pool)
            }
        }
        var dx0 = UnsafePointer(dres!)
        if drop { Dropout.backward(dx: dtmp, dy: dres, mask: mask0, count: N * C, pool: pool); dx0 = UnsafePointer(dtmp!) }
        profile.time(.embedding, backward: true) {
            Embedding.backward(dTokenTable: wte.grad.baseAddress!, dPositionTable: wpe.grad.baseAddress!, dx: dx0, tokens: tokens,
                               batch: B, length: T, dim: C)
        }
    }
}
