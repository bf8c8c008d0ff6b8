// Scheduler: one ModelRunner per loaded model — a dedicated thread (decoding is CPU-bound and blocking, so it never
// runs on the NIO event loops or Swift's cooperative pool) looping over steps:
//   1. admit queued requests into free slots (up to `parallel` active sequences, each with its own KVCache),
//      drop the ones whose client went away;
//   2. advance every active sequence by one unit of work — a prompt chunk (prefill, 512 tokens) or one token
//      (sample, stream the text, queue the token for the network);
//   3. run the queued tokens through StepForward.decode (the batched-forward hook) and hand each sequence its logits;
//   4. if embedding requests wait, one pass (up to 512 tokens of their inputs) for the oldest (Embedding.swift).
// New requests join at the next step, finished ones leave, a disconnected client is cancelled within one step
// (one prompt chunk during prefill). Beyond `parallel + maxQueue` requests, submit throws Ollama's 503 "server busy".
import Dispatch
import Foundation
import Infer
import Quant
import Synchronization

/// What a request asks of the scheduler: tokens to continue from and how to sample.
public struct SequenceRequest: Sendable {
    public var prompt: [Int]
    public var settings: GenerationSettings
    public var contextLength: Int
    /// Ollama's `format` ("json" or a JSON schema): only tokens that continue a valid answer (JSONConstraint.swift).
    public var format: JSONGrammar?
    /// `logprobs`: nil when not asked for, else how many top alternatives (Logprobs.swift).
    public var logprobs: Int?
    /// Polled once per step: true when the client has gone (its connection closed).
    public var isDisconnected: @Sendable () -> Bool

    public init(prompt: [Int], settings: GenerationSettings, contextLength: Int, isDisconnected: @escaping @Sendable () -> Bool = { false }) {
        self.prompt = prompt
        self.settings = settings
        self.contextLength = contextLength
        self.isDisconnected = isDisconnected
    }
}

/// How a sequence ended, with Ollama's metrics.
public struct SequenceResult: Sendable {
    public var reason: FinishReason
    public var promptTokens = 0
    public var promptNanoseconds: UInt64 = 0
    public var generatedTokens = 0
    public var evalNanoseconds: UInt64 = 0
    /// Generated token ids (a final end-of-generation token excluded).
    public var generated: [Int] = []
    /// Time spent masking logits for `format` (the cost of constrained sampling).
    public var constraintNanoseconds: UInt64 = 0
}

public enum SequenceEvent: Sendable {
    case piece(String)
    /// The log probabilities of the tokens in the `.piece` that follows (only when the request asked).
    case logprobs([Logprob])
    case done(SequenceResult)
    case failed(String)
}

/// A submitted request: its events, and a way to cancel it.
public final class SequenceHandle: Sendable {
    public let events: AsyncStream<SequenceEvent>
    let sequence: DecodeSequence

    init(events: AsyncStream<SequenceEvent>, sequence: DecodeSequence) {
        self.events = events
        self.sequence = sequence
    }

    /// Stops the sequence at the next step (its slot is freed then).
    public func cancel() { sequence.cancelled.store(true, ordering: .relaxed) }
}

/// One sequence's state. Touched only by its runner's thread, except `cancelled`.
final class DecodeSequence: @unchecked Sendable {
    let id: Int
    let request: SequenceRequest
    let continuation: AsyncStream<SequenceEvent>.Continuation
    let cancelled = Atomic<Bool>(false)
    var cache: KVCache?
    var sampler: Sampler
    var text: TextStream
    /// Set on the decode thread when the sequence is admitted (request.format's grammar and its mask cache).
    var constraint: Constraint?
    /// Set on the decode thread at admission when the sequence shifts its context when full (ContextShift.swift).
    var shift: ContextShift?
    var logits: [Float] = []
    var logprobTrack = LogprobTrack()
    var prefilled = 0
    var generated: [Int] = []
    var finished = false
    var endedAtEOG = false
    var admittedAt: UInt64 = 0
    var promptNanoseconds: UInt64 = 0
    var firstSampleAt: UInt64 = 0
    var constraintNanoseconds: UInt64 = 0
    let maxTokens: Int?

    init(id: Int, request: SequenceRequest, continuation: AsyncStream<SequenceEvent>.Continuation) {
        self.id = id
        self.request = request
        self.continuation = continuation
        sampler = Sampler(request.settings.sampling)
        text = TextStream(stop: request.settings.stop)
        maxTokens = ContextShift.tokenLimit(numPredict: request.settings.numPredict, numCtx: request.contextLength)
    }

    var isCancelled: Bool { cancelled.load(ordering: .relaxed) || request.isDisconnected() }

    /// Samples the next token and streams its text. Returns the token when it must go through the network
    /// (the sequence goes on), nil when the sequence has finished. Mirrors Infer's Generator.next().
    func sampleNext(_ tokenizer: any Tokenizer, tokens: () -> TokenTable) -> Int? {
        if let m = maxTokens, generated.count >= m { finish(.length); return nil }
        if firstSampleAt == 0 { firstSampleAt = now() }
        var token: Int
        let summary = logprobSummary()
        if let constraint {
            let t0 = now()
            let table = tokens()
            let any = constraint.apply(&logits, table)
            constraintNanoseconds += now() - t0
            guard any else { finish(.stop); return nil }
            token = logits.withUnsafeBufferPointer { sampler.sample($0) }
            // The sampler's last-resort pick (rounding left the draw past the total) may be a refused token.
            if !constraint.allows(token, table) { token = logits.indices.max { logits[$0] < logits[$1] }! }
        } else {
            token = logits.withUnsafeBufferPointer { sampler.sample($0) }
        }
        generated.append(token)
        sampler.accept([token])
        if tokenizer.isEndOfGeneration(token) { endedAtEOG = true; finish(.stop); return nil }
        let bytes = tokenizer.piece(token, special: false)
        if let summary { logprobTrack.add(Logprob(token: token, logprob: Double(logits[token]) - summary.logSumExp, top: summary.top), bytes: bytes.count) }
        if constraint != nil { for b in bytes { _ = constraint!.matcher.feed(b, constraint!.cache.grammar) } }
        let piece = text.feed(bytes)
        emit(piece)
        if text.stopped { logprobTrack.drop(); finish(.stop); return nil }
        // A complete value admits only end-of-generation: stop now rather than run the network for it.
        if let constraint, constraint.matcher.isDone { finish(.stop); return nil }
        if let m = maxTokens, generated.count >= m { finish(.length); return nil }
        guard let cache, cache.count < cache.contextLength || shift?.apply(cache, sequence: id) == true else { finish(.length); return nil }
        return token
    }

    func finish(_ reason: FinishReason) {
        guard !finished else { return }
        finished = true
        let rest = text.finish()
        emit(rest, all: true)
        var r = SequenceResult(reason: reason)
        r.promptTokens = request.prompt.count
        r.promptNanoseconds = promptNanoseconds
        // The end-of-generation token is not text and was never fed back: not part of the context.
        r.generated = endedAtEOG ? Array(generated.dropLast()) : generated
        r.generatedTokens = generated.count
        r.evalNanoseconds = firstSampleAt == 0 ? 0 : now() - firstSampleAt
        r.constraintNanoseconds = constraintNanoseconds
        continuation.yield(.done(r))
        continuation.finish()
        cache = nil
    }

    func fail(_ message: String) {
        guard !finished else { return }
        finished = true
        continuation.yield(.failed(message))
        continuation.finish()
        cache = nil
    }
}

@inline(__always) func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// A loaded model and its decode thread.
public final class ModelRunner: @unchecked Sendable {
    public let model: Model
    public let path: String
    public let parallel: Int
    public let maxQueue: Int
    public let defaultContext: Int
    let forward: StepForward
    let log: @Sendable (String) -> Void

    private let condition = NSCondition()
    private var pending: [DecodeSequence] = []
    private var active: [DecodeSequence] = []
    private var embeddings: [EmbeddingJob] = []
    private var stopping = false
    private var nextID = 0
    private var thread: Thread?
    /// The vocabulary's texts for constrained sampling (built on the decode thread the first time it is needed).
    private lazy var tokenTable: TokenTable = {
        let t0 = now()
        let t = TokenTable(tokenizer: model.tokenizer, logitCount: model.network.vocabularySize)
        log("token table for constrained sampling: \(t.order.count) tokens in \((now() - t0) / 1_000_000) ms")
        return t
    }()
    /// Allowed-token masks per grammar (its canonical text), most recently used last; decode thread only.
    private var maskCaches: [(key: String, cache: MaskCache)] = []
    static let maxMaskCaches = 16

    public init(model: Model, path: String, parallel: Int, maxQueue: Int, contextLength: Int?, threads: Int,
                log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.model = model
        self.path = path
        self.parallel = max(1, parallel)
        self.maxQueue = max(0, maxQueue)
        defaultContext = min(contextLength ?? 4096, model.network.trainedContextLength > 0 ? model.network.trainedContextLength : Int.max)
        forward = StepForward(network: model.network, threads: threads)
        self.log = log
        let t = Thread {  // the thread keeps its runner alive until the loop ends
            setThreadName("llmkit-decode")
            self.loop()
        }
        t.stackSize = 16 << 20
        thread = t
        t.start()
    }

    /// Queues a request. Throws 503 "server busy" when `parallel` sequences run and `maxQueue` wait already.
    public func submit(_ request: SequenceRequest) throws(APIError) -> SequenceHandle {
        let (stream, continuation) = AsyncStream<SequenceEvent>.makeStream()
        condition.lock()
        defer { condition.unlock() }
        guard !stopping else { throw APIError(.serviceUnavailable, "model is unloading, please try again") }
        guard active.count + pending.count + embeddings.count < parallel + maxQueue else { throw APIError.busy }
        nextID += 1
        let seq = DecodeSequence(id: nextID, request: request, continuation: continuation)
        continuation.onTermination = { [weak seq] _ in seq?.cancelled.store(true, ordering: .relaxed) }
        pending.append(seq)
        condition.signal()
        return SequenceHandle(events: stream, sequence: seq)
    }

    /// Sequences running and waiting.
    public var load: (active: Int, queued: Int) {
        condition.lock(); defer { condition.unlock() }
        return (active.count, pending.count)
    }

    /// Ends the decode thread: running and queued sequences end with `message`.
    public func shutdown(_ message: String = "model unloaded") {
        condition.lock()
        stopping = true
        for s in pending { s.fail(message) }
        pending = []
        for s in active { s.cancelled.store(true, ordering: .relaxed) }
        for j in embeddings { j.cancelled.store(true, ordering: .relaxed) }
        condition.signal()
        condition.unlock()
    }

    // MARK: - the loop

    private func loop() {
        while true {
            condition.lock()
            while active.isEmpty && pending.isEmpty && embeddings.isEmpty && !stopping { condition.wait() }
            if stopping {
                let left = active, jobs = embeddings
                active = []
                embeddings = []
                condition.unlock()
                for s in left { s.fail("model unloaded") }
                for j in jobs { j.finish(.failure(APIError(.serviceUnavailable, "model unloaded"))) }
                return
            }
            pending.removeAll { s in
                guard s.isCancelled else { return false }
                s.fail("request canceled")
                return true
            }
            while active.count < parallel, !pending.isEmpty {
                let s = pending.removeFirst()
                s.admittedAt = now()
                active.append(s)
            }
            let batch = active
            let job = embeddings.first
            condition.unlock()

            step(batch)
            if let job { embedPass(job) }

            condition.lock()
            active.removeAll { $0.finished }
            embeddings.removeAll { $0.finished }
            condition.unlock()
        }
    }

    /// One step: a prompt chunk or one token for every sequence in `batch`.
    func step(_ batch: [DecodeSequence]) {
        var decode: [(seq: DecodeSequence, token: Int)] = []
        var prefills: [(seq: DecodeSequence, n: Int)] = []
        for s in batch where !s.finished {
            if s.isCancelled {
                log("sequence \(s.id) cancelled (client gone) after \(s.generated.count) tokens")
                s.fail("request canceled")
                continue
            }
            if s.cache == nil {
                s.cache = model.network.makeCache(contextLength: s.request.contextLength)
                if let g = s.request.format { s.constraint = Constraint(cache: maskCache(g)) }
                s.shift = ContextShift(settings: s.request.settings, model: model.network, prompt: s.request.prompt.count,
                                       numCtx: s.request.contextLength, log: log)
            }
            if s.prefilled < s.request.prompt.count {
                let n = min(StepForward.prefillChunk, s.request.prompt.count - s.prefilled)
                if s.prefilled == 0 { s.sampler.accept(s.request.prompt) }
                prefills.append((s, n))
                continue
            }
            if let token = s.sampleNext(model.tokenizer, tokens: { self.tokenTable }) { decode.append((s, token)) }
        }
        // This step's prompt chunks (one per sequence still reading its prompt), together where that changes no number.
        let chunks = prefills.map { p in
            (tokens: Array(p.seq.request.prompt[p.seq.prefilled..<(p.seq.prefilled + p.n)]), cache: p.seq.cache!,
             wantLogits: p.seq.prefilled + p.n == p.seq.request.prompt.count)
        }
        for ((s, n), (chunk, out)) in zip(prefills, zip(chunks, forward.prefill(chunks))) {
            switch out {
            case .success(let logits):
                s.prefilled += n
                if chunk.wantLogits {
                    s.logits = logits
                    s.promptNanoseconds = now() - s.admittedAt
                }
            case .failure(let error): s.fail("\(error)")
            }
        }
        guard !decode.isEmpty else { return }
        let rows = forward.decode(decode.map { ($0.token, $0.seq.cache!) })
        for (d, row) in zip(decode, rows) {
            switch row {
            case .success(let logits): d.seq.logits = logits
            case .failure(let error): d.seq.fail("\(error)")
            }
        }
    }
}

// MARK: - constrained sampling and embeddings

extension ModelRunner {
    /// The mask cache of grammar `g` (decode thread only); the least recently used one goes beyond maxMaskCaches.
    func maskCache(_ g: JSONGrammar) -> MaskCache {
        if let i = maskCaches.firstIndex(where: { $0.key == g.key }) {
            let e = maskCaches.remove(at: i)
            maskCaches.append(e)
            return e.cache
        }
        let c = MaskCache(grammar: g)
        maskCaches.append((g.key, c))
        if maskCaches.count > ModelRunner.maxMaskCaches { maskCaches.removeFirst() }
        return c
    }

    /// Queues an embedding request (token ids per input) and waits for its pooled vectors, one per input.
    /// Throws 503 "server busy" like `submit` when the queue is full.
    public func embed(_ inputs: [[Int]], pooling: Pooling, isDisconnected: @escaping @Sendable () -> Bool) async throws -> [[Float]] {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<[[Float]], Error>) in
            let job = EmbeddingJob(inputs: inputs, pooling: pooling, isDisconnected: isDisconnected, continuation: c)
            condition.lock()
            defer { condition.unlock() }
            guard !stopping else { job.finish(.failure(APIError(.serviceUnavailable, "model is unloading, please try again"))); return }
            guard active.count + pending.count + embeddings.count < parallel + maxQueue else { job.finish(.failure(APIError.busy)); return }
            embeddings.append(job)
            condition.signal()
        }
    }
}
