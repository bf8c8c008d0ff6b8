// llmkit dev lora-step: one forward/backward of LoRALlamaModel on a GGUF base, for the numpy oracle (tests/oracle)
// and as QLoRA's speed harness — the LoRA twin of `dev train-step`.
//   BASE.gguf --tokens B.json --out G.safetensors [--adapter-in A.safetensors]   loss and the gradient of every
//        lora_a / lora_b after one forwardBackward (gradScale 1); __metadata__ {"loss": "%.9g"}
//   BASE.gguf --init-out A.safetensors --seed S                                 the initial A/B (B = 0)
//   BASE.gguf --bench N [--batch B --length T --scored F]                       N timed steps (forwardBackward on
//        random tokens, the first (1 − F) of each row unscored like a prompt, + clip + AdamW) after 2 warm-ups
// B.json is {"batch", "length", "inputs": [B·T], "targets": [B·T, −1 = not scored]}; A.safetensors holds F32 tensors
// named as the parameters (`blk.N.attn_q.weight.lora_a` [rank, in], `….lora_b` [out, rank], B rows in GGUF order).
import ArgumentParser
import Finetune
import Formats
import Foundation
import Quant

struct DevLoRAStep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lora-step",
        abstract: "One LoRA training step on a GGUF base: gradients for the oracle, initial adapters, or a speed benchmark.")

    @Argument(help: "Base model (llama GGUF, any weight type llmkit dequantizes).") var base: String
    @Option(help: "Batch (JSON: batch, length, inputs, targets).") var tokens: String?
    @Option(help: "Where to write the loss and the LoRA gradients (safetensors).") var out: String?
    @Option(help: "LoRA values to load (safetensors of lora_a/lora_b) instead of the seeded init.") var adapterIn: String?
    @Option(help: "Write the initial LoRA values here (safetensors).") var initOut: String?
    @Option(help: "Run this many timed training steps and print tokens/s and peak RSS.") var bench: Int?
    @Option(help: "LoRA rank.") var rank = 8
    @Option(help: "LoRA alpha (scale alpha/rank).") var alpha: Float = 32
    @Option(help: "LoRA dropout on the adapters' input.") var dropout: Float = 0
    @Option(help: "Target modules: q_proj,v_proj | all-linear | attn_q,… ") var targets = "q_proj,v_proj"
    @Flag(help: "Scale alpha/√rank (rsLoRA).") var rslora = false
    @Flag(help: "Recompute each block in the backward instead of keeping its activations.") var gradCheckpoint = false
    @Option(help: "Batch rows for --bench.") var batch = 1
    @Option(help: "Sequence length for --bench.") var length = 256
    @Option(help: "Share of each --bench row that is scored (the rest is a masked prompt).") var scored: Double = 1
    @Option(help: "Random seed (init, dropout, --bench tokens).") var seed: UInt64 = 0
    @Option(name: .shortAndLong, help: "Threads.") var threads = ThreadPool.shared.size

    func run() throws {
        do {
            let lora = LoRAConfig(rank: rank, alpha: alpha, dropout: dropout, targets: try LoRATargets.parse(targets), useRSLoRA: rslora)
            let gguf = try GGUFFile(path: base)
            let pool = threads == ThreadPool.shared.size ? ThreadPool.shared : ThreadPool(threads: threads)
            var rng = TrainRNG(seed: seed)
            if let initOut {
                let model = try LoRALlamaModel(base: gguf, lora: lora, maxSequence: 1, gradCheckpoint: false, rng: &rng)
                try DevStepIO.write(model.parameters, values: true, to: initOut, metadata: [:])
            } else if let n = bench {
                let model = try LoRALlamaModel(base: gguf, lora: lora, maxSequence: length, gradCheckpoint: gradCheckpoint, rng: &rng)
                model.pool = pool
                try runBench(model, steps: n, rng: &rng)
            } else {
                guard let tokens, let out else { throw ValidationError("give --tokens and --out (or --init-out, or --bench)") }
                let b = try DevStepIO.loadBatch(tokens)
                let model = try LoRALlamaModel(base: gguf, lora: lora, maxSequence: b.length, gradCheckpoint: gradCheckpoint, rng: &rng)
                model.pool = pool
                if let adapterIn {
                    try DevStepIO.load(model.parameters, from: adapterIn) {
                        "tensor \($0) is not a LoRA parameter of this model (rank \(rank), targets \(targets))"
                    }
                }
                let loss = try model.forwardBackward(inputs: b.inputs, targets: b.targets, batch: b.batch, length: b.length,
                                                     gradScale: 1, rng: &rng)
                try DevStepIO.write(model.parameters, values: false, to: out, metadata: ["loss": String(format: "%.9g", loss)])
            }
        } catch let e as ValidationError {
            throw e
        } catch {
            fail(error)
        }
    }

    private func runBench(_ model: LoRALlamaModel, steps: Int, rng: inout TrainRNG) throws {
        let cfg = model.config
        let opt = AdamW(parameters: model.parameters)
        opt.pool = model.pool
        let T = length, B = batch
        let prompt = min(T - 1, Int((1 - max(0, min(1, scored))) * Double(T)))
        func step(_ rng: inout TrainRNG) throws -> (Float, Double, Double) {
            let inputs = (0..<(B * T)).map { _ in Int32(rng.below(cfg.vocabularySize)) }
            var targets = [Int32](repeating: -1, count: B * T)
            for b in 0..<B { for t in prompt..<T { targets[b * T + t] = Int32(rng.below(cfg.vocabularySize)) } }
            let t0 = Date()
            let loss = try model.forwardBackward(inputs: inputs, targets: targets, batch: B, length: T, gradScale: 1, rng: &rng)
            let t1 = Date()
            _ = clipGradients(model.parameters, maxNorm: 1)
            opt.step(lr: 1e-4)
            opt.zeroGrad()
            return (loss, t1.timeIntervalSince(t0), Date().timeIntervalSince(t1))
        }
        for _ in 0..<2 { _ = try step(&rng) }
        let profile = OpProfile()
        model.profile = profile
        var fb = 0.0, optTime = 0.0, best = Double.infinity
        var lastLoss: Float = 0
        let cpu0 = DevStepIO.cpuSeconds()
        let start = Date()
        for _ in 0..<steps {
            let s0 = Date()
            let (l, a, b) = try step(&rng)
            best = min(best, Date().timeIntervalSince(s0))
            lastLoss = l; fb += a; optTime += b
        }
        let total = Date().timeIntervalSince(start)
        let cpu = DevStepIO.cpuSeconds() - cpu0
        let tokens = Double(B * T * steps)
        let lora = model.lora
        print("lora llama L\(cfg.layers) C\(cfg.dim) H\(cfg.heads)/\(cfg.kvHeads) F\(cfg.ffnDim) V\(cfg.vocabularySize), rank \(lora.rank), targets "
              + lora.targets.joined(separator: ",") + String(format: ", batch %d × %d (%d scored), dropout %.2f, ", B, T, T - prompt, lora.dropout)
              + (gradCheckpoint ? "grad checkpoint" : "no checkpoint") + ", \(model.pool.size) threads, \(steps) steps")
        print(String(format: "tokens/s %.1f (best step %.1f), step %.1f ms (forward+backward %.1f, clip+AdamW %.1f), loss %.4f",
                     tokens / total, Double(B * T) / best, total / Double(steps) * 1e3, fb / Double(steps) * 1e3,
                     optTime / Double(steps) * 1e3, lastLoss))
        print(String(format: "CPU time %.1f ms per step (%.1f tokens per CPU-second)", cpu / Double(steps) * 1e3, tokens / cpu))
        print(String(format: "peak RSS %.0f MB, activations %.0f MB", Double(peakResidentBytes()) / 1e6, Double(model.activationBytes) / 1e6))
        DevStepIO.printProfile(profile, steps: steps)
    }
}
