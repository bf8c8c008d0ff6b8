// LoRALlamaModel and its ops on tiny random llama GGUFs written here:
//   - the frozen matmul through Q4_0 / Q4_K / Q8_0 (and F16, Q4_1) blocks equals BLAS on the dequantized F32 copy;
//   - the LoRA layer's gradients (with a dropout mask) against finite differences;
//   - the whole model against LlamaTrainModel with the merged weights W + s·B·A (an independent forward and
//     backward: loss and logits equal, and dA = s·Bᵀ·dW, dB = s·dW·Aᵀ from the merged model's weight gradients);
//   - the whole model's LoRA gradients against finite differences of `loss` (tied and untied output, GQA);
//   - activation checkpointing gives bit-identical loss, gradients and RNG stream, with dropout on;
//   - adapter() / load(_:) round trip and their errors.
import Foundation
import Formats
import Quant
import XCTest
@testable import Finetune

/// Writes a llama GGUF with every 2-D weight in `type` (norms F32) and returns its path (deleted by the caller).
func writeTinyLlama(_ cfg: ModelConfig, _ params: [Parameter], type: GGMLType = .f32) throws -> String {
    let path = NSTemporaryDirectory() + "llmkit-lora-\(UUID().uuidString).gguf"
    let md = GGUFExport.metadata(config: cfg, name: "tiny", tokenizer: GGUFMetadata())
    let types = params.map { $0.shape.count == 2 ? type : GGMLType.f32 }
    let specs = try zip(params, types).map { try GGUFTensorSpec(name: $0.name, type: $1, dims: Array($0.shape.reversed())) }
    try GGUFWriter(metadata: md, tensors: specs).write(to: path) { i, sink in
        let p = params[i], t = types[i]
        if t == .f32 { return try sink.write(UnsafeRawBufferPointer(UnsafeBufferPointer(p.value))) }
        let cols = p.shape[1], rowBytes = t.byteCount(elements: cols)!
        var buf = [UInt8](repeating: 0, count: rowBytes * p.shape[0])
        try buf.withUnsafeMutableBytes { raw in
            for r in 0..<p.shape[0] { try Quantize.row(t, p.value.baseAddress! + r * cols, raw.baseAddress! + r * rowBytes, cols) }
        }
        try sink.write(contentsOf: buf)
    }
    return path
}

final class LoRAModelTests: XCTestCase {
    // MARK: the frozen matmul

    func checkFrozen(_ type: GGMLType, rows: Int, cols: Int, n: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        var rng = TrainRNG(seed: UInt64(rows * 31 + cols))
        let w = (0..<(rows * cols)).map { _ in rng.normal() }
        let rowBytes = type.byteCount(elements: cols)!
        var q = [UInt8](repeating: 0, count: rowBytes * rows)
        try q.withUnsafeMutableBytes { raw in
            for r in 0..<rows { try Quantize.row(type, w.withUnsafeBufferPointer { $0.baseAddress! + r * cols }, raw.baseAddress! + r * rowBytes, cols) }
        }
        let deq = try q.withUnsafeBytes { try Dequantize.tensor(type, $0) }
        // Strided x/y (as in the fused qkv buffer), random prior contents to check overwrite vs accumulate.
        let ldx = cols + 3, ldy = rows + 5
        let x = TBuf.random(n * ldx, &rng), dy = TBuf.random(n * ldy, &rng)
        try q.withUnsafeBytes { raw in
            let fl = FrozenLinear(name: "w", type: type, data: raw.baseAddress!, rows: rows, cols: cols)
            let scratch = TBuf(max(fl.scratchFloats, 1))
            for accumulate in [false, true] {
                let prior = TBuf.random(n * ldy, &rng)
                let y = prior.copy()
                fl.forward(y.p, ldy: ldy, x.p, ldx: ldx, n: n, accumulate: accumulate, scratch: scratch.p, pool: .shared)
                var want = [Double](), got = [Float]()
                for i in 0..<n {
                    for o in 0..<rows {
                        var s = accumulate ? Double(prior.p[i * ldy + o]) : 0
                        for c in 0..<cols { s += Double(x.p[i * ldx + c]) * Double(deq[o * cols + c]) }
                        want.append(s); got.append(y.p[i * ldy + o])
                    }
                }
                expectClose(got, want, tol: 2e-5, "\(type.name) \(rows)×\(cols) forward (accumulate \(accumulate))", file: file, line: line)

                let lddx = cols + 2
                let priorDx = TBuf.random(n * lddx, &rng), dx = priorDx.copy()
                fl.backward(dx: dx.p, lddx: lddx, dy: dy.p, lddy: ldy, n: n, accumulate: accumulate, scratch: scratch.p, pool: .shared)
                want = []; got = []
                for i in 0..<n {
                    for c in 0..<cols {
                        var s = accumulate ? Double(priorDx.p[i * lddx + c]) : 0
                        for o in 0..<rows { s += Double(dy.p[i * ldy + o]) * Double(deq[o * cols + c]) }
                        want.append(s); got.append(dx.p[i * lddx + c])
                    }
                    // the padding between rows is untouched
                    for c in cols..<lddx { XCTAssertEqual(dx.p[i * lddx + c], priorDx.p[i * lddx + c], file: file, line: line) }
                }
                expectClose(got, want, tol: 2e-5, "\(type.name) \(rows)×\(cols) backward (accumulate \(accumulate))", file: file, line: line)

                // One thread gives the same bits.
                let dx1 = priorDx.copy()
                fl.backward(dx: dx1.p, lddx: lddx, dy: dy.p, lddy: ldy, n: n, accumulate: accumulate, scratch: scratch.p, pool: pool1)
                XCTAssertEqual(dx1.array, dx.array, "\(type.name): backward differs with one thread", file: file, line: line)
            }
        }
    }

    func testFrozenMatmulThroughQuantizedBlocksEqualsDequantizedF32() throws {
        for type in [GGMLType.q4_0, .q8_0, .q4_1, .f16, .f32] {
            try checkFrozen(type, rows: 37, cols: 96, n: 5)
            try checkFrozen(type, rows: 130, cols: 320, n: 17)
        }
        for type in [GGMLType.q4_K, .q6_K] {
            try checkFrozen(type, rows: 33, cols: 256, n: 7)  // one block per row: dX rows are split instead
            try checkFrozen(type, rows: 70, cols: 768, n: 3)
        }
        // A tile smaller than the rows of a task (several tiles per task).
        try checkFrozen(.q8_0, rows: 700, cols: 128, n: 2)
    }

    // MARK: whole models

    static let gqa = ModelConfig(architecture: "llama", vocabularySize: 29, contextLength: 12, layers: 2, dim: 32, heads: 4, kvHeads: 2,
                                 ffnDim: 64, dropout: 0, ropeTheta: 100, tiedOutput: false)

    /// A random base (as a LlamaTrainModel, written to a GGUF) with weights large enough that every path matters.
    func makeBase(_ cfg: ModelConfig, type: GGMLType = .f32, seed: UInt64 = 5) throws -> (LlamaTrainModel, String) {
        var rng = TrainRNG(seed: seed)
        let base = try LlamaTrainModel(config: cfg, rng: &rng)
        for p in base.parameters {
            let isNorm = p.name.hasSuffix("_norm.weight")
            for i in 0..<p.count { p.value[i] = (isNorm ? 1 : 0) + rng.normal() * (isNorm ? 0.2 : 0.3) }
        }
        return (base, try writeTinyLlama(cfg, base.parameters, type: type))
    }

    func makeLoRA(_ path: String, _ lora: LoRAConfig, seq: Int = 12, checkpoint: Bool = false, seed: UInt64 = 9,
                  bScale: Float = 0.3) throws -> LoRALlamaModel {
        var rng = TrainRNG(seed: seed)
        let m = try LoRALlamaModel(base: GGUFFile(path: path), lora: lora, maxSequence: seq, gradCheckpoint: checkpoint, rng: &rng)
        for p in m.parameters where p.name.hasSuffix("lora_b") { for i in 0..<p.count { p.value[i] = rng.normal() * bScale } }
        return m
    }

    func param(_ ps: [Parameter], _ name: String) -> Parameter { ps.first { $0.name == name }! }

    func checkAgainstMergedModel(_ cfg: ModelConfig, targets: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let (base, path) = try makeBase(cfg)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let lora = LoRAConfig(rank: 3, alpha: 5, dropout: 0, targets: targets)
        let model = try makeLoRA(path, lora)
        XCTAssertEqual(model.config.tiedOutput, cfg.tiedOutput, file: file, line: line)
        XCTAssertEqual(model.parameters.count, 2 * cfg.layers * targets.count, file: file, line: line)

        // The merged model: W' = W + s·B·A for every target.
        let merged = try LlamaTrainModel(config: cfg)
        for (p, q) in zip(merged.parameters, base.parameters) { _ = p.value.update(fromContentsOf: q.value) }
        let s = lora.scale, r = lora.rank
        for l in 0..<cfg.layers {
            for t in targets {
                let w = param(merged.parameters, "blk.\(l).\(t).weight"), a = param(model.parameters, "blk.\(l).\(t).weight.lora_a"),
                    b = param(model.parameters, "blk.\(l).\(t).weight.lora_b")
                let out = w.shape[0], inn = w.shape[1]
                for o in 0..<out { for i in 0..<inn { for k in 0..<r { w.value[o * inn + i] += s * b.value[o * r + k] * a.value[k * inn + i] } } }
            }
        }
        var rng = TrainRNG(seed: 4)
        let B = 2, T = 11
        var (inp, tgt) = ModelTestData.batch(cfg, batch: B, length: T, rng: &rng)
        for i in 0..<4 { tgt[i] = -1 }  // a masked prompt
        var r1 = TrainRNG(seed: 1), r2 = TrainRNG(seed: 1)
        let want = try merged.forwardBackward(inputs: inp, targets: tgt, batch: B, length: T, gradScale: 0.5, rng: &r1)
        let got = try model.forwardBackward(inputs: inp, targets: tgt, batch: B, length: T, gradScale: 0.5, rng: &r2)
        XCTAssertEqual(Double(got), Double(want), accuracy: 2e-6 * Double(abs(want)), "loss", file: file, line: line)
        XCTAssertEqual(Double(try model.loss(inputs: inp, targets: tgt, batch: B, length: T)), Double(want),
                       accuracy: 2e-6 * Double(abs(want)), "loss()", file: file, line: line)
        let ctx = Array(inp[0..<7])
        let lw = try merged.logits(context: ctx).map(Double.init), lg = try model.logits(context: ctx)
        expectClose(lg, lw, tol: 1e-5, "logits", file: file, line: line)

        // dA = s·Bᵀ·dW', dB = s·dW'·Aᵀ
        for l in 0..<cfg.layers {
            for t in targets {
                let dw = param(merged.parameters, "blk.\(l).\(t).weight"), a = param(model.parameters, "blk.\(l).\(t).weight.lora_a"),
                    b = param(model.parameters, "blk.\(l).\(t).weight.lora_b")
                let out = dw.shape[0], inn = dw.shape[1]
                var wantA = [Double](repeating: 0, count: r * inn), wantB = [Double](repeating: 0, count: out * r)
                for o in 0..<out {
                    for i in 0..<inn {
                        let g = Double(dw.grad[o * inn + i]) * Double(s)
                        for k in 0..<r {
                            wantA[k * inn + i] += Double(b.value[o * r + k]) * g
                            wantB[o * r + k] += g * Double(a.value[k * inn + i])
                        }
                    }
                }
                for (name, got, want) in [("lora_a", Array(a.grad), wantA), ("lora_b", Array(b.grad), wantB)] {
                    let scale = want.map(abs).max()!
                    let err = zip(got, want).map { abs(Double($0) - $1) }.max()!
                    XCTAssert(scale > 0 && err <= 1e-4 * scale, "blk.\(l).\(t) \(name): max err \(err) of \(scale)", file: file, line: line)
                }
            }
        }
    }

    func testMatchesTheMergedTrainModelUntiedGQA() throws {
        try checkAgainstMergedModel(Self.gqa, targets: LoRATargets.moduleToGGUF.map(\.gguf))
    }

    func testMatchesTheMergedTrainModelTiedMQA() throws {
        var cfg = Self.gqa
        cfg.tiedOutput = true
        cfg.kvHeads = 1
        try checkAgainstMergedModel(cfg, targets: ["attn_q", "attn_v", "ffn_down"])
    }

    /// Directional derivatives of loss() along random directions of each LoRA parameter.
    func checkFiniteDifferences(_ cfg: ModelConfig, checkpoint: Bool, file: StaticString = #filePath, line: UInt = #line) throws {
        let (_, path) = try makeBase(cfg, seed: 11)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let model = try makeLoRA(path, LoRAConfig(rank: 2, alpha: 3, dropout: 0, targets: LoRATargets.moduleToGGUF.map(\.gguf)),
                                 checkpoint: checkpoint)
        var rng = TrainRNG(seed: 21)
        let B = 2, T = 9
        let (inp, tgt) = ModelTestData.batch(cfg, batch: B, length: T, rng: &rng)
        _ = try model.forwardBackward(inputs: inp, targets: tgt, batch: B, length: T, gradScale: 1, rng: &rng)
        let h: Float = 1e-3
        for p in model.parameters {
            let u = (0..<p.count).map { _ in rng.normal() }
            let orig = Array(p.value)
            for i in 0..<p.count { p.value[i] = orig[i] + h * u[i] }
            let lp = Double(try model.loss(inputs: inp, targets: tgt, batch: B, length: T))
            for i in 0..<p.count { p.value[i] = orig[i] - h * u[i] }
            let lm = Double(try model.loss(inputs: inp, targets: tgt, batch: B, length: T))
            for i in 0..<p.count { p.value[i] = orig[i] }
            let numeric = (lp - lm) / (2 * Double(h))
            let analytic = (0..<p.count).reduce(0.0) { $0 + Double(p.grad[$1]) * Double(u[$1]) }
            XCTAssert(abs(numeric - analytic) <= 1e-2 * max(abs(numeric), abs(analytic)) + 2e-3,
                      "\(p.name): numeric \(numeric), analytic \(analytic)", file: file, line: line)
        }
    }

    func testFiniteDifferencesUntied() throws { try checkFiniteDifferences(Self.gqa, checkpoint: false) }

    func testFiniteDifferencesTiedCheckpointed() throws {
        var cfg = Self.gqa
        cfg.tiedOutput = true
        try checkFiniteDifferences(cfg, checkpoint: true)
    }

    func testCheckpointingIsBitIdenticalWithDropout() throws {
        let (_, path) = try makeBase(Self.gqa, type: .q8_0)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let lora = LoRAConfig(rank: 4, alpha: 8, dropout: 0.25, targets: LoRATargets.moduleToGGUF.map(\.gguf))
        let plain = try makeLoRA(path, lora), ckpt = try makeLoRA(path, lora, checkpoint: true)
        var rng = TrainRNG(seed: 2)
        let (inp, tgt) = ModelTestData.batch(Self.gqa, batch: 3, length: 12, rng: &rng)
        var r1 = TrainRNG(seed: 8), r2 = TrainRNG(seed: 8)
        for _ in 0..<2 {  // two accumulated calls
            let l1 = try plain.forwardBackward(inputs: inp, targets: tgt, batch: 3, length: 12, gradScale: 0.5, rng: &r1)
            let l2 = try ckpt.forwardBackward(inputs: inp, targets: tgt, batch: 3, length: 12, gradScale: 0.5, rng: &r2)
            XCTAssertEqual(l1, l2)
        }
        XCTAssertEqual(r1, r2, "the RNG streams diverged")
        for (p, q) in zip(plain.parameters, ckpt.parameters) { XCTAssertEqual(Array(p.grad), Array(q.grad), p.name) }
        XCTAssertLessThan(ckpt.activationBytes, plain.activationBytes)

        // Dropout is on in training only: two draws differ, and loss() equals a dropout-free model's.
        var r3 = TrainRNG(seed: 9)
        let l3 = try plain.forwardBackward(inputs: inp, targets: tgt, batch: 3, length: 12, gradScale: 0.5, rng: &r3)
        let l4 = try plain.forwardBackward(inputs: inp, targets: tgt, batch: 3, length: 12, gradScale: 0.5, rng: &r3)
        XCTAssertNotEqual(l3, l4)
        let noDrop = try makeLoRA(path, LoRAConfig(rank: 4, alpha: 8, dropout: 0, targets: lora.targets))
        XCTAssertEqual(try plain.loss(inputs: inp, targets: tgt, batch: 3, length: 12),
                       try noDrop.loss(inputs: inp, targets: tgt, batch: 3, length: 12))
    }

    func testInitAdapterAndLoad() throws {
        let (_, path) = try makeBase(Self.gqa)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let lora = LoRAConfig(rank: 4, alpha: 16, dropout: 0.1, targets: ["attn_q", "attn_v"])
        var rng = TrainRNG(seed: 3)
        let m = try LoRALlamaModel(base: GGUFFile(path: path), lora: lora, maxSequence: 8, gradCheckpoint: false, rng: &rng)
        XCTAssertEqual(m.parameters.map(\.name), ["blk.0.attn_q.weight.lora_a", "blk.0.attn_q.weight.lora_b", "blk.0.attn_v.weight.lora_a",
                                                  "blk.0.attn_v.weight.lora_b", "blk.1.attn_q.weight.lora_a", "blk.1.attn_q.weight.lora_b",
                                                  "blk.1.attn_v.weight.lora_a", "blk.1.attn_v.weight.lora_b"])
        XCTAssertEqual(m.parameters[2].shape, [4, 32])
        XCTAssertEqual(m.parameters[3].shape, [16, 4])
        // A ~ U(−1/√in, 1/√in) drawn in order, B = 0.
        var check = TrainRNG(seed: 3)
        let bound = 1 / Float(32).squareRoot()
        for p in m.parameters where p.name.hasSuffix("lora_a") {
            for i in 0..<p.count { XCTAssertEqual(p.value[i], (2 * check.uniform() - 1) * bound) }
        }
        XCTAssertTrue(m.parameters.filter { $0.name.hasSuffix("lora_b") }.allSatisfy { $0.value.allSatisfy { $0 == 0 } })

        for p in m.parameters { for i in 0..<p.count { p.value[i] = Float(i % 7) - 3 } }
        let ad = m.adapter()
        XCTAssertEqual(ad.pairs.count, 4)
        XCTAssertEqual(ad.alpha, 16)
        XCTAssertEqual(ad.dropout, 0.1)
        XCTAssertEqual(ad.baseModel, "tiny")
        let q1 = ad.pairs["blk.1.attn_v.weight"]!
        XCTAssertEqual([q1.rank, q1.inFeatures, q1.outFeatures], [4, 32, 16])

        var rng2 = TrainRNG(seed: 4)
        let m2 = try LoRALlamaModel(base: GGUFFile(path: path), lora: lora, maxSequence: 8, gradCheckpoint: false, rng: &rng2)
        try m2.load(ad)
        for (p, q) in zip(m.parameters, m2.parameters) { XCTAssertEqual(Array(p.value), Array(q.value), p.name) }

        var bad = ad
        bad.pairs["blk.0.attn_k.weight"] = bad.pairs["blk.0.attn_v.weight"]
        XCTAssertThrowsError(try m2.load(bad)) { XCTAssert("\($0)".contains("attn_k"), "\($0)") }
        bad = ad
        bad.pairs["blk.0.attn_q.weight"]!.rank = 2
        XCTAssertThrowsError(try m2.load(bad)) { XCTAssert("\($0)".contains("rank"), "\($0)") }
        bad = ad
        bad.pairs["blk.1.attn_q.weight"] = nil
        XCTAssertThrowsError(try m2.load(bad)) { XCTAssert("\($0)".contains("no pair"), "\($0)") }
        bad = ad
        bad.alpha = 8
        XCTAssertThrowsError(try m2.load(bad)) { XCTAssert("\($0)".contains("alpha"), "\($0)") }
    }

    func testBadInputsThrow() throws {
        let (_, path) = try makeBase(Self.gqa)
        defer { try? FileManager.default.removeItem(atPath: path) }
        var rng = TrainRNG(seed: 1)
        let g = try GGUFFile(path: path)
        XCTAssertThrowsError(try LoRALlamaModel(base: g, lora: LoRAConfig(rank: 0), maxSequence: 8, gradCheckpoint: false, rng: &rng))
        XCTAssertThrowsError(try LoRALlamaModel(base: g, lora: LoRAConfig(), maxSequence: 0, gradCheckpoint: false, rng: &rng))
        let m = try LoRALlamaModel(base: g, lora: LoRAConfig(), maxSequence: 8, gradCheckpoint: false, rng: &rng)
        XCTAssertThrowsError(try m.loss(inputs: [1, 2], targets: [1, 2], batch: 1, length: 2 + 1))
        XCTAssertThrowsError(try m.logits(context: Array(repeating: 1, count: 9)))
        XCTAssertThrowsError(try m.logits(context: [29]))
        // No scored target: loss 0 and no gradient.
        XCTAssertEqual(try m.forwardBackward(inputs: [1, 2], targets: [-1, -1], batch: 1, length: 2, gradScale: 1, rng: &rng), 0)
        XCTAssertTrue(m.parameters.allSatisfy { $0.grad.allSatisfy { $0 == 0 } })
    }
}

extension GradCheckTests {
    func testLoRALinearWithDropoutMask() {
        var rng = TrainRNG(seed: 31)
        let n = 7, inDim = 19, outDim = 13, r = 3, s: Float = 1.7, ldx = inDim + 2, ldy = outDim + 1
        let x = TBuf.random(n * ldx, &rng), a = TBuf.random(r * inDim, &rng), b = TBuf.random(outDim * r, &rng)
        let mask = TBuf((0..<(n * inDim)).map { _ in rng.uniform() < 0.3 ? 0 : 1 / 0.7 })
        let base = TBuf.random(n * ldy, &rng)
        let xd = TBuf(n * inDim), h = TBuf(n * r), y = TBuf(n * ldy)
        check("lora", inputs: [x, a, b], outputs: n * ldy, forward: {
            for i in 0..<n { for j in 0..<inDim { xd.p[i * inDim + j] = x.p[i * ldx + j] * mask.p[i * inDim + j] } }
            for i in 0..<(n * ldy) { y.p[i] = base.p[i] }
            LoRALinear.forward(y.p, ldy: ldy, h: h.p, xd.p, ldx: inDim, a: a.p, b: b.p, scale: s, n: n, inDim: inDim, outDim: outDim,
                               rank: r, pool: .shared)
            return y.array
        }, backward: { dy in
            let dx = TBuf(n * ldx), da = TBuf(r * inDim), db = TBuf(outDim * r), g = TBuf(n * r), tmp = TBuf(n * inDim)
            LoRALinear.backward(dx: dx.p, lddx: ldx, dA: da.p, dB: db.p, dy: dy.p, lddy: ldy, h: h.p, xd: xd.p, ldx: inDim,
                                mask: mask.p, a: a.p, b: b.p, scale: s, n: n, inDim: inDim, outDim: outDim, rank: r, g: g.p, tmp: tmp.p,
                                pool: .shared)
            return [dx, da, db]
        })
    }
}
