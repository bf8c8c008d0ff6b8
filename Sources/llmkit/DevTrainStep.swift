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
                try write(model.parameters, values: true, to: initOut, metadata: [:])
            } else if let n = bench {
                try runBench(cfg, steps: n, pool: pool)
            } else {
                guard let weights, let tokens, let out else {
                    throw ValidationError("give --weights, --tokens and --out (or --init-out, or --bench)")
                }
                cfg.dropout = 0
                let model = try makeTrainModel(config: cfg)
                (model as? TrainModelRuntime)?.pool = pool
                try load(model.parameters, from: weights)
                let b = try loadBatch(tokens)
                var rng = TrainRNG(seed: seed)
                let loss = try model.forwardBackward(inputs: b.inputs, targets: b.targets, batch: b.batch, length: b.length,
                                                     gradScale: 1, rng: &rng)
                try write(model.parameters, values: false, to: out, metadata: ["loss": String(format: "%.9g", loss)])
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

    private func loadBatch(_ path: String) throws -> (batch: Int, length: Int, inputs: [Int32], targets: [Int32]) {
        guard let obj = try JSON.parseFile(path) as? [String: Any] else { throw FinetuneError.data(file: path, message: "not a JSON object") }
        guard let b = JSON.int(obj["batch"]), let t = JSON.int(obj["length"]) else {
            throw FinetuneError.data(file: path, message: "needs integer batch and length")
        }
        func ints(_ key: String) throws -> [Int32] {
            guard let a = obj[key] as? [Any] else { throw FinetuneError.data(file: path, message: "needs an array \(key)") }
            return try a.map {
                guard let v = JSON.int($0), let i = Int32(exactly: v) else { throw FinetuneError.data(file: path, message: "\(key) holds a non-integer") }
                return i
            }
        }
        return (b, t, try ints("inputs"), try ints("targets"))
    }

    private func load(_ params: [Parameter], from path: String) throws {
        let file = try SafetensorsFile(path: path)
        for p in params {
            guard let t = file.tensor(named: p.name) else { throw FinetuneError.data(file: path, message: "missing tensor \(p.name)") }
            guard t.dtype == .f32, t.shape == p.shape else {
                throw FinetuneError.data(file: path, message: "\(p.name) is \(t.dtype) \(t.shape), expected F32 \(p.shape)")
            }
            let raw = file.data(of: t)
            UnsafeMutableRawBufferPointer(p.value).copyMemory(from: raw)
        }
    }

    private func write(_ params: [Parameter], values: Bool, to path: String, metadata: [String: String]) throws {
        let specs = params.map { SafetensorsTensorSpec(name: $0.name, dtype: .f32, shape: $0.shape) }
        try SafetensorsWriter.write(to: path, tensors: specs, metadata: metadata) { i, sink in
            try sink.write(UnsafeRawBufferPointer(values ? params[i].value : params[i].grad))
        }
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
        func cpuSeconds() -> Double {
            var u = rusage()
            getrusage(RUSAGE_SELF.rawValue, &u)
            return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) * 1e-6 + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) * 1e-6
        }
        let cpu0 = cpuSeconds()
        let start = Date()
        for _ in 0..<steps {
            let s0 = Date()
            let (l, a, b) = try step()
            best = min(best, Date().timeIntervalSince(s0))
            lastLoss = l; fb += a; optTime += b
        }
        let total = Date().timeIntervalSince(start)
        let cpu = cpuSeconds() - cpu0
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
        print("per step, ms:      forward  backward")
        for f in OpProfile.Family.allCases {
            let s = profile.seconds[f.rawValue]
            print("  " + f.name.padding(toLength: 12, withPad: " ", startingAt: 0) + String(format: " %8.2f  %8.2f", s[0] / Double(steps) * 1e3, s[1] / Double(steps) * 1e3))
        }
    }
}
