// llmkit dev train-step: one forward/backward of a from-scratch model, for the numpy oracle (tests/oracle) and as
// the training core's speed harness.
//   --config C.json --weights W.safetensors --tokens B.json --out G.safetensors   gradients of every parameter
//        after one forwardBackward (gradScale 1, dropout forced off); __metadata__ {"loss": "%.9g"}
//   --config C.json --init-out W.safetensors --seed S                            a fresh model's initial weights
//   --config C.json --bench N [--batch B] [--seed S]                             N timed steps (forwardBackward on
//        random windows of random tokens + clip + AdamW) after 3 warm-up steps: tokens/s and time per op family
// C.json is a JSON ModelConfig; B.json is {"batch", "length", "inputs": [B·T], "targets": [B·T, −1 = ignored]}.
import ArgumentParser
import Finetune
import Formats
import Foundation
import Quant

struct DevTrainStep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-step",
        abstract: "One training step of a from-scratch model: gradients for the oracle, initial weights, or a speed benchmark.")

    @Option(help: "Model configuration (JSON ModelConfig).") var config: String
    @Option(help: "Weights to load (safetensors, F32, GGUF tensor names).") var weights: String?
    @Option(help: "Batch (JSON: batch, length, inputs, targets).") var tokens: String?
    @Option(help: "Where to write the gradients (safetensors).") var out: String?
    @Option(help: "Write a fresh model's initial weights here (safetensors).") var initOut: String?
    @Option(help: "Run this many timed training steps and print tokens/s.") var bench: Int?
    @Option(help: "Batch rows for --bench.") var batch = 16
    @Option(help: "Sequence length for --bench (default: the config's context).") var length: Int?
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Option(name: .shortAndLong, help: "Threads.") var threads = ThreadPool.shared.size

    func run() throws {
        do {
            var cfg = try loadConfig()
            let pool = threads == ThreadPool.shared.size ? ThreadPool.shared : ThreadPool(threads: threads)
            if let initOut {
                var rng = TrainRNG(seed: seed)
                let model = try makeTrainModel(config: cfg, rng: &rng)
                try DevStepIO.write(model.parameters, values: true, to: initOut, metadata: [:])
            } else if let n = bench {
                try runBench(cfg, steps: n, pool: pool)
            } else {
                guard let weights, let tokens, let out else {
                    throw ValidationError("give --weights, --tokens and --out (or --init-out, or --bench)")
                }
                cfg.dropout = 0
                let model = try makeTrainModel(config: cfg)
                (model as? TrainModelRuntime)?.pool = pool
                try DevStepIO.load(model.parameters, from: weights)
                let b = try DevStepIO.loadBatch(tokens)
                var rng = TrainRNG(seed: seed)
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

    private func loadConfig() throws -> ModelConfig {
        guard let data = FileManager.default.contents(atPath: config) else {
            throw FinetuneError.data(file: config, message: "cannot read the configuration")
        }
        let cfg: ModelConfig
        do { cfg = try JSONDecoder().decode(ModelConfig.self, from: data) } catch {
            throw FinetuneError.data(file: config, message: "not a model configuration: \(error)")
        }
        try cfg.validate()
        return cfg
    }

    private func runBench(_ cfg: ModelConfig, steps: Int, pool: ThreadPool) throws {
        var rng = TrainRNG(seed: seed)
        let model = try makeTrainModel(config: cfg, rng: &rng)
        let runtime = model as? TrainModelRuntime
        runtime?.pool = pool
        let opt = AdamW(parameters: model.parameters)
        opt.pool = pool
        let T = length ?? cfg.contextLength, B = batch
        let stream = (0..<max(100_000, 4 * B * T)).map { _ in Int32(rng.below(cfg.vocabularySize)) }
        func step() throws -> (Float, Double, Double) {
            var inputs = [Int32](), targets = [Int32]()
            inputs.reserveCapacity(B * T); targets.reserveCapacity(B * T)
            for _ in 0..<B {
                let s = rng.below(stream.count - T)
                inputs += stream[s..<(s + T)]
                targets += stream[(s + 1)...(s + T)]
            }
            let t0 = Date()
            let loss = try model.forwardBackward(inputs: inputs, targets: targets, batch: B, length: T, gradScale: 1, rng: &rng)
            let t1 = Date()
            clipGradients(model.parameters, maxNorm: 1)
            opt.step(lr: 1e-3)
            opt.zeroGrad()
            return (loss, t1.timeIntervalSince(t0), Date().timeIntervalSince(t1))
        }
        for _ in 0..<3 { _ = try step() }
        let profile = OpProfile()
        runtime?.profile = profile
        var fb = 0.0, optTime = 0.0, best = Double.infinity
        var lastLoss: Float = 0
        let cpu0 = DevStepIO.cpuSeconds()
        let start = Date()
        for _ in 0..<steps {
            let s0 = Date()
            let (l, a, b) = try step()
            best = min(best, Date().timeIntervalSince(s0))
            lastLoss = l; fb += a; optTime += b
        }
        let total = Date().timeIntervalSince(start)
        let cpu = DevStepIO.cpuSeconds() - cpu0
        let tokens = Double(B * T * steps)
        print(cfg.architecture + String(format: " L%d C%d H%d F%d V%d, batch %d × %d, dropout %.2f, %d threads, %d steps",
                     cfg.layers, cfg.dim, cfg.heads, cfg.ffnDim, cfg.vocabularySize, B, T, cfg.dropout,
                     pool.size, steps))
        print(String(format: "tokens/s %.0f (best step %.0f), step %.1f ms (forward+backward %.1f, clip+AdamW %.1f), loss %.4f",
                     tokens / total, Double(B * T) / best, total / Double(steps) * 1e3, fb / Double(steps) * 1e3,
                     optTime / Double(steps) * 1e3, lastLoss))
        // On a shared machine wall time includes waiting for a core; CPU time per step (all threads, including a
        // worker's spinning) bounds what an idle machine would take.
        print(String(format: "CPU time %.1f ms per step (%.0f tokens per CPU-second)", cpu / Double(steps) * 1e3, tokens / cpu))
        print(String(format: "peak RSS %.0f MB, activations %.0f MB", Double(peakResidentBytes()) / 1e6,
                     Double(runtime?.activationBytes ?? 0) / 1e6))
        DevStepIO.printProfile(profile, steps: steps)
    }
}
