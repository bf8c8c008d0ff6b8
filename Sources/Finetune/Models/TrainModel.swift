// What the two from-scratch architectures share: the factory, the initialization rule, batch validation and the
// residual-stream helpers. The models themselves are GPTTrainModel.swift and LlamaTrainModel.swift.
//
// Initialization (seeded TrainRNG, parameters in `parameters` order, each in memory order): linear and embedding
// weights N(0, 0.02); attn_output and ffn_down weights N(0, 0.02/sqrt(2·layers)); biases 0; norm weights 1.

import Foundation
import Quant

/// A fresh model of `config.architecture`, initialized from `rng`.
public func makeTrainModel(config: ModelConfig, rng: inout TrainRNG) throws -> any TrainableModel {
    switch config.architecture {
    case "gpt2": return try GPTTrainModel(config: config, rng: &rng)
    case "llama": return try LlamaTrainModel(config: config, rng: &rng)
    default: throw FinetuneError.config("architecture must be gpt2 or llama, not '\(config.architecture)'")
    }
}

/// A model of `config.architecture` with all-zero parameters, to load weights into by name.
public func makeTrainModel(config: ModelConfig) throws -> any TrainableModel {
    switch config.architecture {
    case "gpt2": return try GPTTrainModel(config: config)
    case "llama": return try LlamaTrainModel(config: config)
    default: throw FinetuneError.config("architecture must be gpt2 or llama, not '\(config.architecture)'")
    }
}

enum TrainInit {
    /// Fills parameters by the fixed rule (see the header).
    static func initialize(_ params: [Parameter], layers: Int, rng: inout TrainRNG) {
        let residualStd = 0.02 / Float(2 * layers).squareRoot()
        for p in params {
            let name = p.name
            if name.hasSuffix("_norm.weight") {
                p.value.update(repeating: 1)
            } else if name.hasSuffix(".bias") {
                p.value.update(repeating: 0)
            } else {
                let std: Float = name.hasSuffix("attn_output.weight") || name.hasSuffix("ffn_down.weight") ? residualStd : 0.02
                for i in 0..<p.count { p.value[i] = rng.normal() * std }
            }
        }
    }

    /// Checks a batch against the model; throws a one-line FinetuneError.config.
    static func check(_ config: ModelConfig, inputs: [Int32], targets: [Int32]?, batch: Int, length: Int) throws {
        guard batch > 0 && length > 0 else { throw FinetuneError.config("batch and length must be positive, not \(batch)×\(length)") }
        guard length <= config.contextLength else {
            throw FinetuneError.config("sequence length \(length) exceeds the model's context \(config.contextLength)")
        }
        guard inputs.count == batch * length else {
            throw FinetuneError.config("inputs hold \(inputs.count) tokens, not batch×length = \(batch * length)")
        }
        let v = Int32(config.vocabularySize)
        if let bad = inputs.first(where: { $0 < 0 || $0 >= v }) {
            throw FinetuneError.config("input token \(bad) is outside the vocabulary 0..<\(v)")
        }
        if let targets {
            guard targets.count == batch * length else {
                throw FinetuneError.config("targets hold \(targets.count) tokens, not batch×length = \(batch * length)")
            }
            if let bad = targets.first(where: { $0 >= v }) {
                throw FinetuneError.config("target token \(bad) is outside the vocabulary 0..<\(v)")
            }
        }
    }
}

enum Residual {
    /// out = a + b over count elements (out may be a).
    static func add(_ out: FloatPointer, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int, pool: ThreadPool) {
        let parts = Chunks.count(count / 128)
        pool.run(parts) { k in
            for i in Chunks.range(k, parts, count) { out[i] = a[i] + b[i] }
        }
    }
}

/// Run-time knobs both from-scratch models have beyond TrainableModel: the thread pool, per-op timing, and the
/// size of their activation buffers.
/// The two architectures' passes over raw token pointers. The TrainableModel entry points (argument checks, pointer
/// plumbing, the last row of logits) are the same for both and live in `TrainPasses`' helpers below.
protocol TrainPasses: AnyObject {
    var config: ModelConfig { get }
    /// Logits of every position of the last forward pass (rows × vocabulary).
    var lastLogits: FloatPointer { get }
    /// The forward pass; with targets returns the mean loss (and, when `train`, leaves dlogits for backward).
    func forward(_ tokens: UnsafePointer<Int32>, _ targets: UnsafePointer<Int32>?, batch B: Int, length T: Int, train: Bool,
                 gradScale: Float, rng: inout TrainRNG) -> Float
    func backward(_ tokens: UnsafePointer<Int32>, batch B: Int, length T: Int)
}

extension TrainPasses {
    func passForwardBackward(inputs: [Int32], targets: [Int32], batch: Int, length: Int, gradScale: Float,
                             rng: inout TrainRNG) throws -> Float {
        try TrainInit.check(config, inputs: inputs, targets: targets, batch: batch, length: length)
        return inputs.withUnsafeBufferPointer { inp in
            targets.withUnsafeBufferPointer { tgt in
                let loss = forward(inp.baseAddress!, tgt.baseAddress!, batch: batch, length: length, train: true,
                                   gradScale: gradScale, rng: &rng)
                backward(inp.baseAddress!, batch: batch, length: length)
                return loss
            }
        }
    }

    func passLoss(inputs: [Int32], targets: [Int32], batch: Int, length: Int) throws -> Float {
        try TrainInit.check(config, inputs: inputs, targets: targets, batch: batch, length: length)
        var rng = TrainRNG(seed: 0)
        return inputs.withUnsafeBufferPointer { inp in
            targets.withUnsafeBufferPointer { tgt in
                forward(inp.baseAddress!, tgt.baseAddress!, batch: batch, length: length, train: false, gradScale: 0, rng: &rng)
            }
        }
    }

    func passLogits(context: [Int32]) throws -> [Float] {
        try TrainInit.check(config, inputs: context, targets: nil, batch: 1, length: context.count)
        var rng = TrainRNG(seed: 0)
        let T = context.count, V = config.vocabularySize
        _ = context.withUnsafeBufferPointer { inp in
            forward(inp.baseAddress!, nil, batch: 1, length: T, train: false, gradScale: 0, rng: &rng)
        }
        return Array(UnsafeBufferPointer(start: lastLogits + (T - 1) * V, count: V))
    }
}

public protocol TrainModelRuntime: AnyObject {
    var pool: ThreadPool { get set }
    var profile: OpProfile? { get set }
    var activationBytes: Int { get }
}

extension GPTTrainModel: TrainModelRuntime, TrainPasses {}
extension LlamaTrainModel: TrainModelRuntime, TrainPasses {}
