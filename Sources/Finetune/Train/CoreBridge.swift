// CoreBridge: where the run meets the training core — the model factory, AdamW, the learning-rate schedule and
// gradient clipping (Sources/Finetune/Models and Optim) — in the shapes the Trainer takes. --threads picks the
// thread pool the model's ops and AdamW run on (the shared one when it is the core count); results do not
// depend on it.

import Quant

extension TrainSession {
    static func pool(threads: Int) -> ThreadPool {
        threads == ThreadPool.shared.size ? .shared : ThreadPool(threads: threads)
    }

    static func makeModel(config: ModelConfig, rng: inout TrainRNG, pool: ThreadPool) throws -> any TrainableModel {
        let m = try makeTrainModel(config: config, rng: &rng)
        (m as? TrainModelRuntime)?.pool = pool
        return m
    }

    static func makeOptimizer(_ parameters: [Parameter], options o: TrainOptions, pool: ThreadPool) throws -> any TrainOptimizer {
        let a = AdamW(parameters: parameters, beta1: o.beta1, beta2: o.beta2, eps: o.epsilon, weightDecay: o.weightDecay)
        a.pool = pool
        return a
    }

    static func scheduleFunction(_ o: TrainOptions) -> (Int) -> Float {
        let s = LRSchedule(maxLR: o.learningRate, steps: o.steps, warmup: o.warmupSteps, minLR: o.finalLearningRate)
        return { s.lr(at: $0) }
    }

    static func clipFunction() -> ([Parameter], Float) -> Float {
        // --grad-clip 0 turns clipping off (the norm is still measured for the log).
        { params, maxNorm in clipGradients(params, maxNorm: maxNorm > 0 ? maxNorm : .infinity) }
    }
}

extension AdamW: TrainOptimizer {
    public var stepCount: Int {
        get { step }
        set { step = newValue }
    }
    public var checkpointMoments: [OptimizerMoments] { moments.map { OptimizerMoments(name: $0.name, m: $0.m, v: $0.v) } }
    public func update(learningRate: Float) { step(lr: learningRate) }
}
