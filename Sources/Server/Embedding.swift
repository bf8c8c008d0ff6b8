// Embedding: sentence vectors on a model's decode thread. An EmbeddingJob holds the token ids of a request's inputs;
// each runner loop iteration gives the oldest job one forward pass of up to 512 tokens (several inputs together as
// one multi-sequence pass, a long input over several passes with its own KV cache), emitting the final hidden
// states (after the output norm) of the rows its pooling needs. Pooling follows `<arch>.pooling_type` (llama.cpp's
// enum: 0 none, 1 mean, 2 cls, 3 last, 4 rank), mean when absent; "none" gives the last token's state, as Ollama's
// runner falls back to. Normalizing is the routes' business (/api/embed L2-normalizes, /api/embeddings does not).
import Foundation
import Hummingbird
import Infer
import Synchronization

public enum Pooling: Int, Sendable {
    case none = 0, mean = 1, cls = 2, last = 3, rank = 4

    /// The model's pooling (`<arch>.pooling_type`), mean when absent; rank (a reranker's score head) is refused.
    static func of(_ model: Model) throws(APIError) -> Pooling {
        let arch = model.network.architecture
        guard let raw = model.file.metadata["\(arch).pooling_type"]?.int else { return .mean }
        guard let p = Pooling(rawValue: raw) else { throw .badRequest("unknown \(arch).pooling_type \(raw) in the model") }
        if p == .rank { throw .badRequest("rank pooling (reranking models) is not supported for embeddings") }
        return p
    }
}

/// One embedding request on its way through the decode thread. Touched only by that thread, except `cancelled`.
final class EmbeddingJob: @unchecked Sendable {
    let inputs: [[Int]]
    let pooling: Pooling
    let isDisconnected: @Sendable () -> Bool
    let cancelled = Atomic<Bool>(false)
    private var continuation: CheckedContinuation<[[Float]], Error>?
    /// Tokens of each input already run, its cache while it runs, and its pooled sum / chosen row.
    var fed: [Int]
    var caches: [KVCache?]
    var pooled: [[Float]]
    var next = 0
    private(set) var finished = false

    init(inputs: [[Int]], pooling: Pooling, isDisconnected: @escaping @Sendable () -> Bool,
         continuation: CheckedContinuation<[[Float]], Error>) {
        self.inputs = inputs
        self.pooling = pooling
        self.isDisconnected = isDisconnected
        self.continuation = continuation
        fed = inputs.map { _ in 0 }
        caches = inputs.map { _ in nil }
        pooled = inputs.map { _ in [] }
    }

    func finish(_ result: Result<[[Float]], Error>) {
        guard !finished else { return }
        finished = true
        caches = []
        continuation?.resume(with: result)
        continuation = nil
    }
}

extension ModelRunner {
    /// Tokens per embedding pass (as a prompt chunk).
    static let embeddingChunk = StepForward.prefillChunk

    /// One forward pass for `job`: the next inputs' next tokens, up to embeddingChunk of them.
    func embedPass(_ job: EmbeddingJob) {
        guard !job.finished else { return }
        if job.cancelled.load(ordering: .relaxed) || job.isDisconnected() {
            log("embedding cancelled (client gone) after \(job.next) of \(job.inputs.count) inputs")
            job.finish(.failure(APIError(.init(code: 499), "request canceled")))
            return
        }
        let width = model.network.embeddingLength
        var parts: [(input: Int, from: Int, count: Int)] = []
        var budget = ModelRunner.embeddingChunk
        var i = job.next
        while budget > 0 && i < job.inputs.count {
            let left = job.inputs[i].count - job.fed[i]
            let n = min(left, budget)
            parts.append((i, job.fed[i], n))
            budget -= n
            if n < left { break }
            i += 1
        }
        var sequences: [SequenceInput] = []
        for p in parts {
            let tokens = job.inputs[p.input]
            if job.caches[p.input] == nil { job.caches[p.input] = model.network.makeCache(contextLength: tokens.count) }
            let ends = p.from + p.count == tokens.count
            let outputs: [Int]
            switch job.pooling {
            case .mean: outputs = Array(0..<p.count)
            case .cls: outputs = p.from == 0 ? [0] : []
            case .last, .none, .rank: outputs = ends ? [p.count - 1] : []
            }
            sequences.append(SequenceInput(tokens: Array(tokens[p.from..<(p.from + p.count)]), cache: job.caches[p.input]!, outputs: outputs))
        }
        let rows: [[Float]]
        do { rows = try forward.network.forward(sequences, emit: .hidden, threads: forward.threads) } catch {
            job.finish(.failure(APIError.from(error)))
            return
        }
        for (p, out) in zip(parts, rows) {
            if job.pooling == .mean {
                if job.pooled[p.input].isEmpty { job.pooled[p.input] = [Float](repeating: 0, count: width) }
                for r in 0..<(out.count / width) {
                    for c in 0..<width { job.pooled[p.input][c] += out[r * width + c] }
                }
            } else if !out.isEmpty {
                job.pooled[p.input] = Array(out[0..<width])
            }
            job.fed[p.input] += p.count
            if job.fed[p.input] == job.inputs[p.input].count {
                job.caches[p.input] = nil
                if job.pooling == .mean {
                    let scale = 1 / Float(job.inputs[p.input].count)
                    for c in 0..<width { job.pooled[p.input][c] *= scale }
                }
                job.next = p.input + 1
            }
        }
        if job.next == job.inputs.count { job.finish(.success(job.pooled)) }
    }
}

/// Scales `v` to unit length (Ollama's normalize: 1 / max(‖v‖, 1e-12)); nil if it holds NaN or infinity.
func l2Normalized(_ v: [Float]) -> [Float]? {
    var sum: Float = 0
    for x in v {
        guard x.isFinite else { return nil }
        sum += x * x
    }
    let scale = Float(1 / max(Double(sum).squareRoot(), 1e-12))
    return v.map { $0 * scale }
}
