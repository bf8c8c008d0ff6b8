// The contract between the training core (ops, models), the trainer (loop, checkpoints, export) and
// QLoRA: a model is a list of named F32 parameters with gradients, a configuration that says how to build
// it, and a forward/backward over a batch of token windows.
//
// Conventions (one per module, converted at the boundary):
//   - Parameter names are the GGUF tensor names llama.cpp writes for the architecture (`token_embd.weight`,
//     `position_embd.weight`, `blk.0.attn_qkv.weight`, `blk.0.ffn_up.bias`, `output_norm.weight`, …), so the
//     export to GGUF is a straight copy and a checkpoint's safetensors keys read the same.
//   - Shapes are row-major, outermost first (PyTorch's order): a linear layer's weight is [out, in] and
//     computes y = x·Wᵀ + b; an embedding is [vocab, dim]. (GGUF lists dims innermost first: reverse.)
//   - Batches are `batch` rows of `length` positions, row-major; a target < 0 is not scored (prompt masking).

import Foundation
import Formats

/// How to build a model. Architectures: "gpt2" (learned positions, LayerNorm with bias, fused qkv with bias,
/// tanh GELU, tied output by default) and "llama" (RMSNorm, RoPE in ggml's NORM mode — adjacent pairs, so q/k
/// export without permutation — GQA, SwiGLU, no biases).
public struct ModelConfig: Codable, Equatable, Sendable {
    public var architecture: String = "gpt2"
    public var vocabularySize: Int
    public var contextLength: Int = 256
    public var layers: Int = 2
    public var dim: Int = 128
    public var heads: Int = 8
    public var kvHeads: Int = 8
    public var ffnDim: Int = 512
    public var dropout: Float = 0.1
    public var normEps: Float = 1e-5
    public var ropeTheta: Float = 10000
    public var tiedOutput: Bool = true

    public init(architecture: String = "gpt2", vocabularySize: Int, contextLength: Int = 256, layers: Int = 2,
                dim: Int = 128, heads: Int = 8, kvHeads: Int? = nil, ffnDim: Int = 512, dropout: Float = 0.1,
                normEps: Float = 1e-5, ropeTheta: Float = 10000, tiedOutput: Bool = true) {
        self.architecture = architecture
        self.vocabularySize = vocabularySize
        self.contextLength = contextLength
        self.layers = layers
        self.dim = dim
        self.heads = heads
        self.kvHeads = kvHeads ?? heads
        self.ffnDim = ffnDim
        self.dropout = dropout
        self.normEps = normEps
        self.ropeTheta = ropeTheta
        self.tiedOutput = tiedOutput
    }

    public func validate() throws {
        guard ["gpt2", "llama"].contains(architecture) else { throw FinetuneError.config("architecture must be gpt2 or llama, not '\(architecture)'") }
        for (name, v) in [("vocabulary size", vocabularySize), ("context", contextLength), ("layers", layers), ("dim", dim),
                          ("heads", heads), ("kv heads", kvHeads), ("ffn", ffnDim)] where v <= 0 {
            throw FinetuneError.config("\(name) must be positive, not \(v)")
        }
        guard dim % heads == 0 else { throw FinetuneError.config("dim \(dim) is not a multiple of heads \(heads)") }
        guard heads % kvHeads == 0 else { throw FinetuneError.config("heads \(heads) is not a multiple of kv heads \(kvHeads)") }
        guard architecture != "llama" || (dim / heads) % 2 == 0 else { throw FinetuneError.config("RoPE needs an even head size, not \(dim / heads)") }
        guard dropout >= 0 && dropout < 1 else { throw FinetuneError.config("dropout must be in [0, 1), not \(dropout)") }
    }
}

/// One trainable tensor: its values and the gradient accumulated into it, both owned by the model.
public final class Parameter: @unchecked Sendable {
    public let name: String
    public let shape: [Int]
    public let value: UnsafeMutableBufferPointer<Float>
    public let grad: UnsafeMutableBufferPointer<Float>
    /// AdamW's decoupled weight decay applies (matrices yes; norms, biases and embeddings not by default).
    public let decay: Bool

    public var count: Int { value.count }

    public init(name: String, shape: [Int], decay: Bool) {
        self.name = name
        self.shape = shape
        self.decay = decay
        let n = shape.reduce(1, *)
        value = .allocate(capacity: n)
        value.initialize(repeating: 0)
        grad = .allocate(capacity: n)
        grad.initialize(repeating: 0)
    }

    deinit {
        value.deallocate()
        grad.deallocate()
    }

    public func zeroGrad() { grad.update(repeating: 0) }
}

/// A model the trainer can train, evaluate, sample from and export.
public protocol TrainableModel: AnyObject {
    var config: ModelConfig { get }
    /// Every parameter, in a fixed order (the checkpoint's and the optimizer state's order).
    var parameters: [Parameter] { get }
    /// Mean cross-entropy over the scored targets of `batch` rows × `length` positions; adds
    /// gradScale · ∂loss/∂θ into every parameter's `grad` (so accumulation is repeated calls with
    /// gradScale = 1/steps). Dropout masks are drawn from `rng` when config.dropout > 0.
    func forwardBackward(inputs: [Int32], targets: [Int32], batch: Int, length: Int, gradScale: Float,
                         rng: inout TrainRNG) throws -> Float
    /// The same loss without dropout and without touching gradients (validation, eval).
    func loss(inputs: [Int32], targets: [Int32], batch: Int, length: Int) throws -> Float
    /// Logits (vocabularySize) of the last position of `context` (≤ contextLength tokens), no dropout —
    /// what sampling during training and the report's samples use.
    func logits(context: [Int32]) throws -> [Float]
}

/// Seeded, serializable randomness for everything a run draws (initialization, dropout, batch windows),
/// so a resumed run continues exactly where a checkpoint stopped. xoshiro256** seeded through splitmix64.
public struct TrainRNG: Codable, Equatable, Sendable {
    public var state: [UInt64]

    public init(seed: UInt64) {
        var z = seed
        func splitmix() -> UInt64 {
            z &+= 0x9E37_79B9_7F4A_7C15
            var x = z
            x = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9
            x = (x ^ (x >> 27)) &* 0x94D0_49BB_1331_11EB
            return x ^ (x >> 31)
        }
        state = [splitmix(), splitmix(), splitmix(), splitmix()]
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = ((state[1] &* 5) << 7 | (state[1] &* 5) >> 57) &* 9
        let t = state[1] << 17
        state[2] ^= state[0]
        state[3] ^= state[1]
        state[1] ^= state[2]
        state[0] ^= state[3]
        state[2] ^= t
        state[3] = state[3] << 45 | state[3] >> 19
        return result
    }

    /// Uniform in [0, 1) with 24 random bits.
    @inline(__always)
    public mutating func uniform() -> Float { Float(next() >> 40) * 0x1p-24 }

    /// Uniform integer in 0..<n (n > 0), without modulo bias (Lemire's method).
    public mutating func below(_ n: Int) -> Int {
        precondition(n > 0)
        let bound = UInt64(n)
        var m = next().multipliedFullWidth(by: bound)
        if m.low < bound {
            let threshold = (0 &- bound) % bound
            while m.low < threshold { m = next().multipliedFullWidth(by: bound) }
        }
        return Int(m.high)
    }

    /// Standard normal (Box–Muller, one value per call).
    public mutating func normal() -> Float {
        let u1 = max(Double(next() >> 11) * 0x1p-53, 0x1p-60)
        let u2 = Double(next() >> 11) * 0x1p-53
        return Float((-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2))
    }
}

@inline(__always) private func _log(_ x: Double) -> Double { Foundation.log(x) }
@inline(__always) private func _cos(_ x: Double) -> Double { Foundation.cos(x) }
