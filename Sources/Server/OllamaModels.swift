// OllamaModels: the model-management routes — GET /api/tags, POST /api/show, GET /api/ps, POST /api/copy,
// DELETE /api/delete, POST /api/create, HEAD/POST /api/blobs/:digest — plus /api/pull and /api/push (a clear
// error: there is no registry here), POST /api/tokenize and /api/detokenize (beyond Ollama). Embeddings: EmbeddingAPI.swift.
import Formats
import Foundation
import Hummingbird
import Infer
import Quant
import Synchronization

/// What /api/tags and /api/show report about a GGUF, read once per file (and again when the file changes).
struct ModelDetails: Sendable {
    let architecture: String
    let parameterCount: Int
    let quantization: String
    let contextLength: Int
    let embeddingLength: Int
    let modelInfo: [(String, JSON)]
    let verboseModelInfo: [(String, JSON)]
    let hasTemplate: Bool

    var json: JSON {
        .object([("parent_model", .string("")), ("format", .string("gguf")), ("family", .string(architecture)),
                 ("families", .array([.string(architecture)])), ("parameter_size", .string(ModelDetails.human(parameterCount))),
                 ("quantization_level", .string(quantization))])
    }

    /// Ollama's format.HumanNumber: 134515008 → "134.52M", 8030261248 → "8.0B".
    static func human(_ n: Int) -> String {
        let d = Double(n)
        func f(_ v: Double, _ unit: String, _ places: Int) -> String {
            v == v.rounded(.down) ? String(format: "%.0f%@", v, unit) : String(format: "%.\(places)f%@", v, unit)
        }
        if n >= 1_000_000_000_000 { return f(d / 1e12, "T", 1) }
        if n >= 1_000_000_000 { return f(d / 1e9, "B", 1) }
        if n >= 1_000_000 { return f(d / 1e6, "M", 2) }
        if n >= 1_000 { return f(d / 1e3, "K", 2) }
        return String(n)
    }

    init(file: GGUFFile) {
        let md = file.metadata
        architecture = md["general.architecture"]?.string ?? "unknown"
        parameterCount = md["general.parameter_count"]?.int ?? file.tensors.reduce(0) { $0 + $1.elementCount }
        quantization = md["general.file_type"]?.int.flatMap { LlamaFileType(rawValue: UInt32($0))?.name } ?? "unknown"
        contextLength = md["\(architecture).context_length"]?.int ?? 0
        embeddingLength = md["\(architecture).embedding_length"]?.int ?? 0
        hasTemplate = md["tokenizer.chat_template"]?.string != nil
        var info: [(String, JSON)] = [], verbose: [(String, JSON)] = []
        for (k, v) in md {
            verbose.append((k, ModelDetails.json(v)))
            if case let .array(_, a) = v, a.count > 16 { info.append((k, .array([]))) } else { info.append((k, ModelDetails.json(v))) }
        }
        if md["general.parameter_count"] == nil {
            info.append(("general.parameter_count", .int(parameterCount)))
            verbose.append(("general.parameter_count", .int(parameterCount)))
        }
        modelInfo = info
        verboseModelInfo = verbose
    }

    static func json(_ v: GGUFValue) -> JSON {
        switch v {
        case let .string(s): return .string(s)
        case let .bool(b): return .bool(b)
        case let .float32(f): return JSON.float(f)
        case let .float64(d): return .double(d)
        case let .array(_, a): return .array(a.map(json))
        default: return v.int.map { .int($0) } ?? .null
        }
    }
}

/// Details per GGUF path, keyed with the file's modification time.
final class DetailsCache: Sendable {
    private let entries = Mutex<[String: (Date, ModelDetails)]>([:])

    func details(_ path: String) throws -> ModelDetails {
        let mtime = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date ?? Date.distantPast
        if let (t, d) = entries.withLock({ $0[path] }), t == mtime { return d }
        let d: ModelDetails
        do { d = ModelDetails(file: try GGUFFile(path: path)) } catch {
            throw APIError(.internalServerError, "\(path): \(error)")
        }
        entries.withLock { $0[path] = (mtime, d) }
        return d
    }
}

extension LLMServer {
    func addModelRoutes(_ router: Router<ServerContext>) {
        router.get("/api/tags") { _, _ in try self.tags() }
        router.head("/api/tags") { _, _ in Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"]) }
        router.post("/api/show") { request, _ in try await self.show(request) }
        router.get("/api/ps") { _, _ in try await self.ps() }
        router.post("/api/copy") { request, _ in try await self.copy(request) }
        router.delete("/api/delete") { request, _ in try await self.delete(request) }
        router.post("/api/create") { request, _ in try await self.create(request) }
        router.head("/api/blobs/:digest") { _, context in try self.headBlob(context) }
        router.post("/api/blobs/:digest") { request, context in try await self.postBlob(request, context) }
        router.post("/api/pull") { _, _ -> Response in
            throw APIError(.notImplemented, "pull is not available: llmkit serve has no model registry; put a GGUF file and a manifest in the model store, or use /api/create with an uploaded blob")
        }
        router.post("/api/push") { _, _ -> Response in
            throw APIError(.notImplemented, "push is not available: llmkit serve has no model registry")
        }
        router.post("/api/tokenize") { request, _ in try await self.tokenize(request) }
        router.post("/api/detokenize") { request, _ in try await self.detokenize(request) }
    }

    /// A model's entry in /api/tags (and the base of /api/ps entries).
    func listEntry(_ m: StoredModel) throws -> [(String, JSON)] {
        let d = try details.details(m.filePath)
        return [("name", .string(m.displayName)), ("model", .string(m.displayName)),
                ("modified_at", .string(Timestamp.string(m.modifiedAt))), ("size", .int(m.size)),
                ("digest", .string(m.digest)), ("details", d.json)]
    }

    func tags() throws -> Response {
        var models: [JSON] = []
        for m in store.list(skipped: { [logger] path, e in logger.warning("skipping manifest", metadata: ["path": .string(path), "error": .string("\(e)")]) }) {
            do { models.append(.object(try listEntry(m))) } catch {
                logger.warning("skipping model", metadata: ["model": .string(m.displayName), "error": .string("\(error)")])
            }
        }
        return LLMServer.json(.object([("models", .array(models))]))
    }

    /// `model` (or the deprecated `name`) of a management request.
    func modelField(_ j: RequestJSON) throws(APIError) -> String {
        var s = try j.string("model") ?? ""
        if s.isEmpty { s = try j.string("name") ?? "" }
        guard !s.isEmpty else { throw .badRequest("model is required") }
        return s
    }

    func show(_ request: Request) async throws -> Response {
        let j = try await readJSON(request, type: "ShowRequest")
        let name = try modelField(j)
        let m = try resolve(name)
        let verbose = try j.bool("verbose") ?? false
        let d = try details.details(m.filePath)
        let gguf = try? GGUFFile(path: m.filePath)
        let template = m.template ?? gguf?.metadata["tokenizer.chat_template"]?.string
        var params: [String] = []
        for (k, v) in m.parameters {
            if case let .array(a) = v { for e in a { params.append("\(k) \(e.serialized())") } } else { params.append("\(k) \(v.serialized())") }
        }
        var modelfile = "# Modelfile generated by llmkit serve\nFROM \(m.filePath)\n"
        for a in m.adapters { modelfile += "ADAPTER \(a)\n" }
        if let t = template { modelfile += "TEMPLATE \"\"\"\(t)\"\"\"\n" }
        if let s = m.system { modelfile += "SYSTEM \"\"\"\(s)\"\"\"\n" }
        for p in params { modelfile += "PARAMETER \(p)\n" }
        var o: [(String, JSON)] = [("modelfile", .string(modelfile)), ("parameters", .string(params.joined(separator: "\n")))]
        if let t = template { o.append(("template", .string(t))) }
        if let s = m.system { o.append(("system", .string(s))) }
        var capabilities: [JSON] = [.string("completion")]
        if let t = template, ToolTemplate.analyze(t).supportsTools { capabilities.append(.string("tools")) }
        // insert: a Go template that uses .Suffix (Ollama's rule), or FIM tokens for llama.cpp's infill prompt
        if (try? OllamaTemplate.insertTemplate(template)) != nil || (gguf.map { FIMTokens(metadata: $0.metadata).supportsInfill } ?? false) {
            capabilities.append(.string("insert"))
        }
        o += [("details", d.json), ("model_info", .object(verbose ? d.verboseModelInfo : d.modelInfo)),
              ("capabilities", .array(capabilities)), ("modified_at", .string(Timestamp.string(m.modifiedAt)))]
        return LLMServer.json(.object(o))
    }

    func ps() async throws -> Response {
        var models: [JSON] = []
        for (m, runner, expires, _) in await manager.running() {
            var e = (try? listEntry(m)) ?? [("name", .string(m.displayName)), ("model", .string(m.displayName))]
            e.removeAll { $0.0 == "modified_at" }
            e.append(("expires_at", .string(Timestamp.string(expires ?? Date(timeIntervalSince1970: 9_223_372_036)))))
            e.append(("size_vram", .int(0)))
            e.append(("context_length", .int(runner.defaultContext)))
            models.append(.object(e))
        }
        return LLMServer.json(.object([("models", .array(models))]))
    }

    func copy(_ request: Request) async throws -> Response {
        let j = try await readJSON(request, type: "CopyRequest")
        let source = try j.string("source") ?? ""
        let destination = try j.string("destination") ?? ""
        guard !source.isEmpty, !destination.isEmpty else { throw APIError.badRequest("source and destination are required") }
        let m = try resolve(source, notFound: { APIError.notFound("model \"\($0)\" not found") })
        let dest: ModelName
        do { dest = try ModelName(destination) } catch { throw APIError.badRequest("destination \"\(destination)\" is invalid") }
        try store.copy(m, to: dest, displayName: dest.description)
        return Response(status: .ok)
    }

    func delete(_ request: Request) async throws -> Response {
        let j = try await readJSON(request, type: "DeleteRequest")
        let raw = try modelField(j)
        let name = try ModelName(raw)
        guard let m = try store.resolve(name) else { throw APIError.modelNotFound(raw) }
        if await manager.isLoaded(m), !store.list().contains(where: { $0.name != name && ModelManager.key($0) == ModelManager.key(m) }) {
            await manager.unloadIfIdle(m)
        }
        guard store.delete(name) else { throw APIError.modelNotFound(raw) }
        return Response(status: .ok)
    }

    // MARK: - create

    func create(_ request: Request) async throws -> Response {
        let j = try await readJSON(request, type: "CreateRequest")
        let raw = try modelField(j)
        let name = try ModelName(raw)
        let stream = try j.bool("stream") ?? true
        let from = try j.string("from")
        let files = try j.object("files", type: "map[string]string")?.fields ?? []
        let adapters = try j.object("adapters", type: "map[string]string")?.fields ?? []
        let template = try j.string("template")
        if let template { try OllamaTemplate.validate(template) }
        let system = try j.string("system")
        let parameters = try j.object("parameters", type: "map[string]interface {}")?.fields
        let quantize = try j.string("quantize")
        if let parameters {
            var check = GenerationSettings()
            try check.apply(parameters)
            try check.validate()
        }

        // The base: another model's manifest, or an uploaded GGUF blob.
        var manifest: [(String, JSON)]
        var baseFile: String
        if let from, !from.isEmpty {
            let base = try resolve(from)
            guard case let .object(o) = base.manifest else { throw APIError(.internalServerError, "bad manifest") }
            manifest = o
            baseFile = base.filePath
        } else if let (fname, digest) = files.first {
            guard files.count == 1, fname.lowercased().hasSuffix(".gguf") else {
                throw APIError.badRequest("files must name exactly one .gguf file (safetensors folders: convert them with llmkit convert first)")
            }
            guard case let .string(d) = digest else { throw APIError.badRequest("json: cannot unmarshal \(RequestJSON.kind(digest)) into Go struct field CreateRequest.files of type string") }
            baseFile = try store.blobPath(d)
            guard FileManager.default.fileExists(atPath: baseFile) else { throw APIError.badRequest("blob \"\(d)\" not found: upload it with POST /api/blobs/\(d)") }
            do { _ = try GGUFFile(path: baseFile) } catch { throw APIError.badRequest("\(fname) is not a valid GGUF: \(error)") }
            manifest = [("file", .string("sha256:" + (ModelStore.digestHex(d) ?? "")))]
        } else {
            throw APIError.badRequest("neither 'from' or 'files' was specified")
        }
        var status: [String] = ["reading model metadata"]
        if let q = quantize {
            guard let ft = LlamaFileType(name: q) else {
                throw APIError.badRequest("unsupported quantization type \(q); one of \(LlamaFileType.allCases.map { $0.name.lowercased() }.joined(separator: ", "))")
            }
            let gguf: GGUFFile
            do { gguf = try GGUFFile(path: baseFile) } catch { throw APIError(.internalServerError, "\(error)") }
            let currentType = gguf.metadata["general.file_type"]?.int.flatMap { LlamaFileType(rawValue: UInt32($0)) }
            guard let currentType, [.f32, .f16, .bf16].contains(currentType) else {
                throw APIError.badRequest("quantization is only supported for F16 and F32 models")
            }
            status.append("quantizing \(currentType.name) model to \(ft.name)")
            let digest = try await quantizeToBlob(baseFile, ft)
            manifest.removeAll { $0.0 == "file" }
            manifest.append(("file", .string("sha256:" + digest)))
        }
        func set(_ key: String, _ value: JSON) {
            manifest.removeAll { $0.0 == key }
            manifest.append((key, value))
        }
        if !adapters.isEmpty {
            // Adapters stack on those of the `from` model, as Ollama's layers do.
            var refs: [JSON] = []
            if case let .array(a)? = manifest.first(where: { $0.0 == "adapters" })?.1 { refs = a }
            guard case let .string(file)? = manifest.first(where: { $0.0 == "file" })?.1 else {
                throw APIError(.internalServerError, "bad manifest")
            }
            let base = try store.resolveFile(file, manifest: "request")
            let (ref, converted) = try await adapterLayer(adapters, base: base)
            if converted { status.append("converting adapter") }
            refs.append(.string(ref))
            set("adapters", .array(refs))
        }
        manifest.removeAll { $0.0 == "name" }
        manifest.insert(("name", .string(name.description)), at: 0)
        if let template { set("template", .string(template)) }
        if let system { set("system", .string(system)) }
        if let parameters { set("parameters", .object(parameters)) }
        status.append("writing manifest")
        try store.write(name, manifest: .object(manifest))
        status.append("success")
        if !stream { return LLMServer.json(.object([("status", .string("success"))])) }
        let body = status.map { JSON.object([("status", .string($0))]).line }.joined()
        return Response(status: .ok, headers: [.contentType: "application/x-ndjson"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    /// The uploaded adapter files of a create request as one GGUF LoRA blob in the store: a `.gguf` LoRA is checked
    /// against the base and used as it is; a PEFT adapter (`adapter_config.json` + `adapter_model.safetensors`) is
    /// converted to a GGUF LoRA (B's q/k rows reordered for the base, as llama.cpp's converter does), as Ollama converts a
    /// safetensors adapter into a layer of its own. Returns the blob
    /// reference and whether a conversion happened.
    func adapterLayer(_ files: [(String, JSON)], base: String) async throws -> (ref: String, converted: Bool) {
        var ggufs: [String] = [], weights: [String] = [], config: String? = nil
        var names: [(path: String, name: String)] = []  // blob paths in messages become the request's file names
        for (name, value) in files {
            guard case let .string(d) = value else {
                throw APIError.badRequest("json: cannot unmarshal \(RequestJSON.kind(value)) into Go struct field CreateRequest.adapters of type string")
            }
            let path = try store.blobPath(d)
            guard FileManager.default.fileExists(atPath: path) else { throw APIError.badRequest("blob \"\(d)\" not found: upload it with POST /api/blobs/\(d)") }
            names.append((path, name))
            let lower = (name as NSString).lastPathComponent.lowercased()
            if lower.hasSuffix(".gguf") { ggufs.append(path) }
            else if lower.hasSuffix(".safetensors") { weights.append(path) }
            else if lower == LoRAAdapter.peftConfigName { config = path }
            else if lower.hasSuffix(".bin") {
                throw APIError.badRequest("adapter file \(name) is a PyTorch pickle, which llmkit does not read; save the adapter with safetensors")
            } else if !lower.hasSuffix(".json") && !lower.hasSuffix(".md") {
                throw APIError.badRequest("unsupported adapter file \(name): expected a GGUF LoRA (.gguf) or a PEFT adapter (adapter_config.json + adapter_model.safetensors)")
            }
        }
        guard ggufs.count + weights.count == 1, ggufs.count == 1 || config != nil else {
            throw APIError.badRequest("adapters must be one GGUF LoRA file, or one PEFT adapter (adapter_config.json and one adapter_model.safetensors)")
        }
        let root = store.root
        let gguf = ggufs.first, weightsFile = weights.first, configFile = config, blobNames = names
        return try await onThread {
            let g: GGUFFile
            do { g = try GGUFFile(path: base) } catch { throw APIError(.internalServerError, "\(error)") }
            let (heads, kvHeads): (Int, Int)
            do { (heads, kvHeads) = try LoRAAdapter.headCounts(g) } catch { throw APIError.badRequest("adapters need a base with attention heads: \(error)") }
            let adapter: LoRAAdapter
            do {
                if let gguf {
                    adapter = try LoRAAdapter.read(path: gguf, heads: heads, kvHeads: kvHeads)
                } else {
                    adapter = try LoRAAdapter.readPEFT(config: configFile!, weights: weightsFile!, heads: heads, kvHeads: kvHeads)
                }
                try adapter.validate(base: g)
                if adapter.pairs["token_embd.weight"] != nil { throw InferError.model(file: base, message: "LoRA on token_embd.weight is not supported") }
            } catch {
                let message = blobNames.reduce("\(error)") { $0.replacingOccurrences(of: $1.path, with: $1.name) }
                throw APIError.badRequest("invalid adapter: \(message)")
            }
            if let gguf { return ("sha256:" + (gguf as NSString).lastPathComponent.dropFirst(7), false) }
            let tmp = root + "/blobs/.adapter-\(UUID().uuidString).gguf"
            defer { try? FileManager.default.removeItem(atPath: tmp) }
            try adapter.writeGGUF(path: tmp)
            guard let h = FileHandle(forReadingAtPath: tmp) else { throw APIError(.internalServerError, "cannot read \(tmp)") }
            defer { try? h.close() }
            var sha = SHA256()
            while let chunk = try h.read(upToCount: 1 << 20), !chunk.isEmpty { sha.update(chunk) }
            let hex = sha.finalizeHex()
            if rename(tmp, root + "/blobs/sha256-" + hex) != 0 { throw APIError(.internalServerError, "cannot store the converted adapter") }
            return ("sha256:" + hex, true)
        }
    }

    /// Quantizes a GGUF with Quant's quantizer into a new blob; returns its hex digest.
    func quantizeToBlob(_ input: String, _ ft: LlamaFileType) async throws -> String {
        let tmp = store.root + "/blobs/.quantize-\(UUID().uuidString).gguf"
        let threads = config.threads
        let root = store.root
        return try await onThread {
            defer { try? FileManager.default.removeItem(atPath: tmp) }
            var o = QuantizeOptions(fileType: ft)
            o.threads = threads
            try ModelQuantizer.quantize(input: input, output: tmp, options: o)
            guard let h = FileHandle(forReadingAtPath: tmp) else { throw APIError(.internalServerError, "cannot read \(tmp)") }
            defer { try? h.close() }
            var sha = SHA256()
            while let chunk = try h.read(upToCount: 1 << 20), !chunk.isEmpty { sha.update(chunk) }
            let hex = sha.finalizeHex()
            if rename(tmp, root + "/blobs/sha256-" + hex) != 0 { throw APIError(.internalServerError, "cannot store the quantized model") }
            return hex
        }
    }

    // MARK: - blobs

    func headBlob(_ context: ServerContext) throws -> Response {
        let digest = context.parameters.get("digest") ?? ""
        let path = try store.blobPath(digest)
        guard FileManager.default.fileExists(atPath: path) else { throw APIError.notFound("blob \"\(digest)\" not found") }
        return Response(status: .ok)
    }

    /// Streams the body to a temporary file while hashing it; keeps it only if the sha256 matches the digest.
    func postBlob(_ request: Request, _ context: ServerContext) async throws -> Response {
        let digest = context.parameters.get("digest") ?? ""
        let path = try store.blobPath(digest)
        let want = ModelStore.digestHex(digest)!
        if FileManager.default.fileExists(atPath: path) { return Response(status: .ok) }
        let tmp = path + ".\(UUID().uuidString).part"
        guard FileManager.default.createFile(atPath: tmp, contents: nil), let h = FileHandle(forWritingAtPath: tmp) else {
            throw APIError(.internalServerError, "cannot write \(tmp)")
        }
        var sha = SHA256()
        var total = 0
        do {
            defer { try? h.close() }
            for try await var chunk in request.body {
                total += chunk.readableBytes
                guard total <= config.maxBlobBytes else { throw APIError(.contentTooLarge, "blob larger than \(config.maxBlobBytes) bytes") }
                let bytes = chunk.readBytes(length: chunk.readableBytes) ?? []
                sha.update(bytes)
                try h.write(contentsOf: bytes)
            }
        } catch {
            try? FileManager.default.removeItem(atPath: tmp)
            throw error
        }
        let got = sha.finalizeHex()
        guard got == want else {
            try? FileManager.default.removeItem(atPath: tmp)
            throw APIError.badRequest("digest mismatch, expected \"sha256:\(want)\", got \"sha256:\(got)\"")
        }
        guard rename(tmp, path) == 0 else { throw APIError(.internalServerError, "cannot store blob \(digest)") }
        return Response(status: .created)
    }

    // MARK: - tokenize / detokenize

    func tokenize(_ request: Request) async throws -> Response {
        let j = try await readJSON(request, type: "TokenizeRequest")
        let name = try modelField(j)
        var content = try j.string("content")
        if content == nil { content = try j.string("prompt") }
        guard let content else { throw APIError.badRequest("content is required") }
        let addSpecial = try j.bool("add_special") ?? false
        let m = try resolve(name)
        let (runner, _) = try await manager.acquire(m)
        let ids = runner.model.tokenizer.encode(content, addSpecial: addSpecial, parseSpecial: true)
        await manager.release(m, keepAlive: config.keepAlive)
        return LLMServer.json(.object([("model", .string(name)), ("tokens", .array(ids.map { .int($0) }))]))
    }

    func detokenize(_ request: Request) async throws -> Response {
        let j = try await readJSON(request, type: "DetokenizeRequest")
        let name = try modelField(j)
        guard let ids = try j.ints("tokens") else { throw APIError.badRequest("tokens is required") }
        let m = try resolve(name)
        let (runner, _) = try await manager.acquire(m)
        let vocab = runner.model.tokenizer.vocabularySize
        if let bad = ids.first(where: { $0 < 0 || $0 >= vocab }) {
            await manager.release(m, keepAlive: config.keepAlive)
            throw APIError.badRequest("token \(bad) is outside the vocabulary (0..<\(vocab))")
        }
        let text = runner.model.tokenizer.decode(ids, special: true)
        await manager.release(m, keepAlive: config.keepAlive)
        return LLMServer.json(.object([("model", .string(name)), ("content", .string(text))]))
    }
}
