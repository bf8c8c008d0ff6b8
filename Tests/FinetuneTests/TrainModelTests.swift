// The two from-scratch models: parameter names, shapes and decay flags per the contract, the init rule's
// statistics, bad input refused with one-line errors, loss/logits consistency, and bit-identical determinism
// (twice in a row, and with 1 versus 2 threads).
import Foundation
import Quant
import XCTest
@testable import Finetune

final class TrainModelTests: XCTestCase {
    func testGPTParametersFollowTheContract() throws {
        var rng = TrainRNG(seed: 1)
        let cfg = ModelConfig(vocabularySize: 50, contextLength: 32, layers: 2, dim: 16, heads: 4, ffnDim: 64, tiedOutput: false)
        let m = try makeTrainModel(config: cfg, rng: &rng)
        XCTAssert(m is GPTTrainModel)
        let shapes = Dictionary(uniqueKeysWithValues: m.parameters.map { ($0.name, $0.shape) })
        XCTAssertEqual(shapes["token_embd.weight"], [50, 16])
        XCTAssertEqual(shapes["position_embd.weight"], [32, 16])
        XCTAssertEqual(shapes["blk.1.attn_qkv.weight"], [48, 16])
        XCTAssertEqual(shapes["blk.1.attn_qkv.bias"], [48])
        XCTAssertEqual(shapes["blk.0.ffn_up.weight"], [64, 16])
        XCTAssertEqual(shapes["blk.0.ffn_down.weight"], [16, 64])
        XCTAssertEqual(shapes["output.weight"], [50, 16])
        XCTAssertEqual(m.parameters.count, 2 + 12 * 2 + 2 + 1)
        let decayed = Set(m.parameters.filter(\.decay).map(\.name))
        XCTAssertEqual(decayed, ["blk.0.attn_qkv.weight", "blk.0.attn_output.weight", "blk.0.ffn_up.weight", "blk.0.ffn_down.weight",
                                 "blk.1.attn_qkv.weight", "blk.1.attn_output.weight", "blk.1.ffn_up.weight", "blk.1.ffn_down.weight",
                                 "output.weight"])
        let tied = try makeTrainModel(config: ModelConfig(vocabularySize: 50, contextLength: 32, layers: 2, dim: 16, heads: 4, ffnDim: 64), rng: &rng)
        XCTAssertNil(tied.parameters.first { $0.name == "output.weight" })
    }

    func testLlamaParametersFollowTheContract() throws {
        var rng = TrainRNG(seed: 2)
        let cfg = ModelConfig(architecture: "llama", vocabularySize: 40, contextLength: 16, layers: 1, dim: 32, heads: 4, kvHeads: 2, ffnDim: 48,
                              tiedOutput: false)
        let m = try makeTrainModel(config: cfg, rng: &rng)
        XCTAssertEqual(m.parameters.map(\.name), ["token_embd.weight", "blk.0.attn_norm.weight", "blk.0.attn_q.weight", "blk.0.attn_k.weight",
                                                  "blk.0.attn_v.weight", "blk.0.attn_output.weight", "blk.0.ffn_norm.weight", "blk.0.ffn_gate.weight",
                                                  "blk.0.ffn_up.weight", "blk.0.ffn_down.weight", "output_norm.weight", "output.weight"])
        XCTAssertEqual(m.parameters[3].shape, [16, 32])
        XCTAssertEqual(m.parameters[7].shape, [48, 32])
        XCTAssertEqual(m.parameters[9].shape, [32, 48])
    }

    func testInitStatistics() throws {
        var rng = TrainRNG(seed: 3)
        let cfg = ModelConfig(vocabularySize: 200, contextLength: 64, layers: 4, dim: 64, heads: 4, ffnDim: 256)
        let m = try makeTrainModel(config: cfg, rng: &rng)
        func std(_ p: Parameter) -> Double {
            let mean = p.value.reduce(0.0) { $0 + Double($1) } / Double(p.count)
            return (p.value.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(p.count)).squareRoot()
        }
        for p in m.parameters {
            if p.name.hasSuffix("_norm.weight") { XCTAssert(p.value.allSatisfy { $0 == 1 }, p.name) }
            else if p.name.hasSuffix(".bias") { XCTAssert(p.value.allSatisfy { $0 == 0 }, p.name) }
            else if p.name.hasSuffix("attn_output.weight") || p.name.hasSuffix("ffn_down.weight") {
                XCTAssertEqual(std(p), 0.02 / 8.0.squareRoot(), accuracy: 0.0007, p.name)
            } else { XCTAssertEqual(std(p), 0.02, accuracy: 0.0007, p.name) }
        }
        // Same seed, same weights; another seed, others.
        var r2 = TrainRNG(seed: 3), r3 = TrainRNG(seed: 4)
        let m2 = try makeTrainModel(config: cfg, rng: &r2), m3 = try makeTrainModel(config: cfg, rng: &r3)
        XCTAssertEqual(Array(m.parameters[0].value), Array(m2.parameters[0].value))
        XCTAssertNotEqual(Array(m.parameters[0].value), Array(m3.parameters[0].value))
    }

    func testBadInputIsRefused() throws {
        var rng = TrainRNG(seed: 5)
        let cfg = ModelConfig(vocabularySize: 10, contextLength: 8, layers: 1, dim: 8, heads: 2, ffnDim: 16)
        let m = try makeTrainModel(config: cfg, rng: &rng)
        XCTAssertThrowsError(try m.loss(inputs: [1, 2, 3], targets: [1, 2, 3], batch: 1, length: 9))
        XCTAssertThrowsError(try m.loss(inputs: [1, 2, 3], targets: [1, 2], batch: 1, length: 3))
        XCTAssertThrowsError(try m.loss(inputs: [1, 2, 10], targets: [1, 2, 3], batch: 1, length: 3))
        XCTAssertThrowsError(try m.loss(inputs: [1, 2, 3], targets: [1, 2, 11], batch: 1, length: 3))
        XCTAssertThrowsError(try m.logits(context: []))
        XCTAssertThrowsError(try makeTrainModel(config: ModelConfig(architecture: "mamba", vocabularySize: 10), rng: &rng))
        XCTAssertThrowsError(try makeTrainModel(config: ModelConfig(vocabularySize: 10, dim: 10, heads: 3), rng: &rng))
    }

    func testLossAndLogitsAgree() throws {
        for arch in ["gpt2", "llama"] {
            var rng = TrainRNG(seed: 6)
            let cfg = ModelConfig(architecture: arch, vocabularySize: 30, contextLength: 16, layers: 2, dim: 16, heads: 4,
                                  kvHeads: arch == "llama" ? 1 : nil, ffnDim: 32, dropout: 0.2)
            let m = try makeTrainModel(config: cfg, rng: &rng)
            let ctx: [Int32] = [3, 7, 1, 29, 0, 12]
            let z = try m.logits(context: ctx)
            XCTAssertEqual(z.count, 30)
            // The loss of predicting token 5 after ctx is logsumexp − z[5]; only the last position scored.
            let mx = z.max()!
            let want = Double(mx) + log(z.reduce(0.0) { $0 + exp(Double($1 - mx)) }) - Double(z[5])
            let got = try m.loss(inputs: ctx, targets: [-1, -1, -1, -1, -1, 5], batch: 1, length: 6)
            XCTAssertEqual(Double(got), want, accuracy: 1e-5, arch)
            // A longer batch does not change an earlier prefix's logits (causality, and no dropout in loss/logits).
            XCTAssertEqual(try m.logits(context: ctx + [4, 4]).count, 30)
            XCTAssertEqual(try m.logits(context: ctx), z)
        }
    }

    /// Two runs of a few steps (dropout on, AdamW, clipping) give the same bits; so do 1 and 2 threads.
    func testBitIdenticalAcrossRunsAndThreadCounts() throws {
        for arch in ["gpt2", "llama"] {
            let cfg = ModelConfig(architecture: arch, vocabularySize: 41, contextLength: 130, layers: 2, dim: 32, heads: 4,
                                  kvHeads: arch == "llama" ? 2 : nil, ffnDim: 48, dropout: 0.1)
            func run(_ pool: ThreadPool) throws -> ([Float], [Float]) {
                var rng = TrainRNG(seed: 9)
                let m = try makeTrainModel(config: cfg, rng: &rng)
                (m as! TrainModelRuntime).pool = pool
                let opt = AdamW(parameters: m.parameters)
                opt.pool = pool
                var losses: [Float] = []
                for _ in 0..<3 {
                    let (inp, tgt) = ModelTestData.batch(cfg, batch: 3, length: 129, rng: &rng)
                    losses.append(try m.forwardBackward(inputs: inp, targets: tgt, batch: 3, length: 129, gradScale: 1, rng: &rng))
                    clipGradients(m.parameters, maxNorm: 1)
                    opt.step(lr: 1e-3)
                    opt.zeroGrad()
                }
                return (losses, m.parameters.flatMap { Array($0.value) })
            }
            let a = try run(.shared), b = try run(.shared), c = try run(pool1)
            XCTAssertEqual(a.0, b.0, arch)
            XCTAssert(a.1 == b.1, "\(arch): weights differ between two runs")
            XCTAssertEqual(a.0, c.0, arch)
            XCTAssert(a.1 == c.1, "\(arch): weights differ between 1 and \(ThreadPool.shared.size) threads")
        }
    }

    func testTrainingReducesLossOnARepeatedPattern() throws {
        var rng = TrainRNG(seed: 12)
        let cfg = ModelConfig(vocabularySize: 8, contextLength: 16, layers: 1, dim: 16, heads: 2, ffnDim: 32, dropout: 0)
        let m = try makeTrainModel(config: cfg, rng: &rng)
        let opt = AdamW(parameters: m.parameters, weightDecay: 0)
        let seq: [Int32] = (0..<17).map { Int32($0 % 8) }
        let inp = Array(seq[0..<16]), tgt = Array(seq[1...16])
        let first = try m.loss(inputs: inp, targets: tgt, batch: 1, length: 16)
        for _ in 0..<60 {
            _ = try m.forwardBackward(inputs: inp, targets: tgt, batch: 1, length: 16, gradScale: 1, rng: &rng)
            opt.step(lr: 1e-2)
            opt.zeroGrad()
        }
        let last = try m.loss(inputs: inp, targets: tgt, batch: 1, length: 16)
        XCTAssertGreaterThan(first, 1.8)
        XCTAssertLessThan(last, 0.1)
    }
}
