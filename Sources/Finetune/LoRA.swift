// LoRA: what a QLoRA run trains — rank, alpha, dropout and which base matrices get a low-rank pair — and the
// protocol a model with a frozen base and trainable adapters offers the fine-tuning loop.
//
// Parameters of such a model are only the adapters: for each adapted base matrix `blk.N.attn_q.weight`
// (GGUF name) a pair `blk.N.attn_q.weight.lora_a` [rank, in] and `blk.N.attn_q.weight.lora_b` [out, rank]
// (GGUF LoRA names; row-major, B's rows in the base GGUF's order). Init as PEFT: A Kaiming-uniform
// (a = √5, i.e. U(−1/√in, 1/√in)), B zero, drawn from the run's TrainRNG in layer order, then target order
// (attn_q attn_k attn_v attn_output ffn_gate ffn_up ffn_down), A only (B needs no draw).
// Forward of an adapted matrix: y = x·Wᵀ + scale · (dropout(x)·Aᵀ)·Bᵀ with scale = alpha/rank (PEFT).
import Formats

public struct LoRAConfig: Codable, Equatable, Sendable {
    public var rank: Int = 8
    public var alpha: Float = 32
    public var dropout: Float = 0.1
    /// GGUF short names (`attn_q`, `attn_v`, …) in block order; see `LoRATargets.parse`.
    public var targets: [String] = ["attn_q", "attn_v"]
    public var useRSLoRA = false

    public init(rank: Int = 8, alpha: Float = 32, dropout: Float = 0.1, targets: [String] = ["attn_q", "attn_v"],
                useRSLoRA: Bool = false) {
        self.rank = rank
        self.alpha = alpha
        self.dropout = dropout
        self.targets = targets
        self.useRSLoRA = useRSLoRA
    }

    public var scale: Float { useRSLoRA ? alpha / Float(rank).squareRoot() : alpha / Float(rank) }

    public func validate() throws {
        guard rank > 0 else { throw FinetuneError.config("LoRA rank must be positive, not \(rank)") }
        guard alpha > 0, alpha.isFinite else { throw FinetuneError.config("LoRA alpha must be positive, not \(alpha)") }
        guard dropout >= 0 && dropout < 1 else { throw FinetuneError.config("LoRA dropout must be in [0, 1), not \(dropout)") }
        guard !targets.isEmpty else { throw FinetuneError.config("no LoRA targets") }
        for t in targets where !LoRATargets.moduleToGGUF.contains(where: { $0.gguf == t }) {
            throw FinetuneError.config("unknown LoRA target '\(t)'")
        }
    }
}

/// A model whose trainable parameters are LoRA pairs on a frozen base.
public protocol AdapterModel: TrainableModel {
    var lora: LoRAConfig { get }
    /// The current adapters in canonical form (copies of the parameters).
    func adapter() -> LoRAAdapter
    /// Sets the pairs' values from an adapter (continuing from a PEFT/GGUF adapter, tests); every pair must
    /// match a parameter's name and shape.
    func load(_ adapter: LoRAAdapter) throws
}
