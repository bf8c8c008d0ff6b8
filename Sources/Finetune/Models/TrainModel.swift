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
public protocol TrainModelRuntime: AnyObject {
    var pool: ThreadPool { get set }
    var profile: OpProfile? { get set }
    var activationBytes: Int { get }
}

extension GPTTrainModel: TrainModelRuntime {}
extension LlamaTrainModel: TrainModelRuntime {}
