// EmbeddingAPI: POST /api/embed (input: a string or a list; truncate, dimensions, options, keep_alive; vectors
// L2-normalized, and after `dimensions` cuts them, normalized again — server/routes.go EmbedHandler), POST
// /api/embeddings (the legacy prompt → embedding, not normalized, an empty prompt just loads the model) and POST
// /v1/embeddings (OpenAI's shape with usage; encoding_format float or base64, which the openai client asks for).
// Inputs are tokenized as the runner does for generation prompts (the model's BOS/EOS rules, special tokens
// parsed); the vectors are computed on the model's decode thread (Embedding.swift).
import Formats
import Foundation
import Hummingbird
import Infer

/// What the three routes share: the inputs as token ids, pooled, and the counts for the reply.
struct EmbeddingResult {
    var vectors: [[Float]]
    var promptTokens: Int
    var loadNanoseconds: UInt64
}

extension LLMServer {
    func addEmbeddingRoutes(_ router: Router<ServerContext>) {
        router.post("/api/embed") { request, context in try await self.embed(request, context) }
        router.post("/api/embeddings") { request, context in try await self.legacyEmbeddings(request, context) }
        router.post("/v1/embeddings") { request, context in try await self.openAIEmbeddings(request, context) }
    }

    /// Inputs: a string (empty: none) or a list of strings; anything else is Ollama's "invalid input type".
    static func embeddingInputs(_ v: JSON?) throws(APIError) -> [String] {
        switch v {
        case nil: return []
        case let .string(s)?: return s.isEmpty ? [] : [s]
        case let .array(a)?:
            var out: [String] = []
            for e in a {
                guard case let .string(s) = e else { throw .badRequest("invalid input type") }
                out.append(s)
            }
            return out
        default: throw .badRequest("invalid input type")
        }
    }

    /// Loads the model, tokenizes and fits each input to the context, and waits for the pooled vectors.
    func embeddings(_ m: StoredModel, _ inputs: [String], options: [(String, JSON)]?, keepAlive: KeepAlive, truncate: Bool,
                    context: ServerContext) async throws -> EmbeddingResult {
        let settings = try settings(for: m, options: options, requestID: context.requestID)
        let (runner, loadNs) = try await manager.acquire(m)
        do {
            let pooling = try Pooling.of(runner.model)
            let trained = runner.model.network.trainedContextLength
            var numCtx = settings.numCtx ?? runner.defaultContext
            if trained > 0 { numCtx = min(numCtx, trained) }
            var ids: [[Int]] = []
            for (i, text) in inputs.enumerated() {
                var t = runner.model.tokenizer.encode(text, addSpecial: true, parseSpecial: true)
                guard !t.isEmpty else { throw APIError.badRequest("input \(i) has no tokens to embed") }
                if t.count > numCtx {
                    guard truncate else { throw APIError.badRequest("the input length exceeds the context length") }
                    logger.warning("truncating input to the context length", metadata: [
                        "id": .string(context.requestID), "input": .stringConvertible(i), "tokens": .stringConvertible(t.count),
                        "num_ctx": .stringConvertible(numCtx)])
                    t = Array(t.prefix(numCtx))
                }
                ids.append(t)
            }
            let vectors = ids.isEmpty ? [] : try await runner.embed(ids, pooling: pooling, isDisconnected: context.isDisconnected)
            await manager.release(m, keepAlive: keepAlive)
            logger.info("embedding", metadata: ["id": .string(context.requestID), "model": .string(m.displayName),
                                                "inputs": .stringConvertible(ids.count), "prompt_tokens": .stringConvertible(ids.reduce(0) { $0 + $1.count })])
            return EmbeddingResult(vectors: vectors, promptTokens: ids.reduce(0) { $0 + $1.count }, loadNanoseconds: loadNs)
        } catch {
            await manager.release(m, keepAlive: keepAlive)
            throw error
        }
    }

    /// Ollama's post-processing of /api/embed (and /v1/embeddings): unit length, then cut to `dimensions` and unit
    /// length again.
    static func normalized(_ vectors: [[Float]], dimensions: Int) throws(APIError) -> [[Float]] {
        var out: [[Float]] = []
        for v in vectors {
            guard var n = l2Normalized(v) else { throw .badRequest("embedding contains NaN or Inf values") }
            if dimensions > 0 && dimensions < n.count { n = l2Normalized(Array(n.prefix(dimensions)))! }
            out.append(n)
        }
        return out
    }

    func dimensions(_ j: RequestJSON) throws(APIError) -> Int {
        let d = try j.int("dimensions") ?? 0
        guard d >= 0 else { throw .badRequest("dimensions must be a non-negative integer") }
        return d
    }

    // MARK: - /api/embed

    func embed(_ request: Request, _ context: ServerContext) async throws -> Response {
        let start = now()
        let j = try await readJSON(request, type: "EmbedRequest")
        let model = try j.string("model") ?? ""
        let inputs = try LLMServer.embeddingInputs(j["input"])
        let truncate = try j.bool("truncate") ?? true
        let dims = try dimensions(j)
        let keepAlive = try j["keep_alive"].map { v throws(APIError) in try KeepAlive.parse(v) } ?? config.keepAlive
        let options = try j.object("options", type: "map[string]interface {}")?.fields
        guard !model.isEmpty else { throw APIError.modelNotFound("") }
        let m = try resolve(model)
        let r = try await embeddings(m, inputs, options: options, keepAlive: keepAlive, truncate: truncate, context: context)
        if inputs.isEmpty { return LLMServer.json(.object([("model", .string(model)), ("embeddings", .array([]))])) }
        let vectors = try LLMServer.normalized(r.vectors, dimensions: dims)
        var o: [(String, JSON)] = [("model", .string(model)), ("embeddings", .array(vectors.map { .array($0.map(JSON.float)) })),
                                   ("total_duration", .int(Int(now() - start)))]
        if r.loadNanoseconds > 0 { o.append(("load_duration", .int(Int(r.loadNanoseconds)))) }
        o.append(("prompt_eval_count", .int(r.promptTokens)))
        return LLMServer.json(.object(o))
    }

    // MARK: - /api/embeddings (legacy)

    func legacyEmbeddings(_ request: Request, _ context: ServerContext) async throws -> Response {
        let j = try await readJSON(request, type: "EmbeddingRequest")
        let model = try j.string("model") ?? ""
        let prompt = try j.string("prompt") ?? ""
        let keepAlive = try j["keep_alive"].map { v throws(APIError) in try KeepAlive.parse(v) } ?? config.keepAlive
        let options = try j.object("options", type: "map[string]interface {}")?.fields
        guard !model.isEmpty else { throw APIError.badRequest("model is required") }
        let m = try resolve(model)
        let r = try await embeddings(m, prompt.isEmpty ? [] : [prompt], options: options, keepAlive: keepAlive, truncate: true, context: context)
        let v = r.vectors.first ?? []
        return LLMServer.json(.object([("embedding", .array(v.map(JSON.float)))]))
    }

    // MARK: - /v1/embeddings

    func openAIEmbeddings(_ request: Request, _ context: ServerContext) async throws -> Response {
        let j = try await readJSON(request, type: "EmbedRequest")
        guard let model = try j.string("model"), !model.isEmpty else { throw APIError.badRequest("model is required") }
        let inputs: [String]
        do { inputs = try LLMServer.embeddingInputs(j["input"]) } catch {
            throw APIError.badRequest("invalid input type: input must be a string or a list of strings (token arrays are not supported)")
        }
        guard j["input"] != nil else { throw APIError.badRequest("invalid input") }
        let base64: Bool
        switch try j.string("encoding_format") {
        case nil, "float": base64 = false
        case "base64": base64 = true
        case let f?: throw APIError.badRequest("Invalid value for 'encoding_format' = \(f). Supported values: ['float', 'base64'].")
        }
        let dims = try dimensions(j)
        let m = try resolve(model)
        let r = try await embeddings(m, inputs, options: nil, keepAlive: config.keepAlive, truncate: true, context: context)
        let vectors = try LLMServer.normalized(r.vectors, dimensions: dims)
        let data: [JSON] = vectors.enumerated().map { i, v in
            let e: JSON
            if base64 {
                // Little-endian float32 bytes, as OpenAI sends them.
                var bytes = [UInt8]()
                bytes.reserveCapacity(v.count * 4)
                for x in v { withUnsafeBytes(of: x.bitPattern.littleEndian) { bytes += $0 } }
                e = .string(Data(bytes).base64EncodedString())
            } else {
                e = .array(v.map(JSON.float))
            }
            return .object([("object", .string("embedding")), ("embedding", e), ("index", .int(i))])
        }
        return LLMServer.json(.object([
            ("object", .string("list")), ("data", .array(data)), ("model", .string(model)),
            ("usage", .object([("prompt_tokens", .int(r.promptTokens)), ("total_tokens", .int(r.promptTokens))])),
        ]))
    }
}
