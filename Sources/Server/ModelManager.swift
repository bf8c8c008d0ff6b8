// ModelManager: which models are loaded. A model loads on first use (Infer's Model(path:adapterFiles:) memory-maps the GGUF
// and adds the manifest's LoRA adapters, on a thread of its own), stays while requests use it, and after the last one
// for its keep_alive (0: unload at once, negative: never). At most `maxLoaded` models stay loaded: loading another
// unloads the least recently used idle one.
import Foundation
import Infer

public struct ServerConfig: Sendable {
    public var parallel = 4
    public var maxQueue = 512
    public var keepAlive = KeepAlive.seconds(300)
    /// Default context per sequence; nil: min(the model's, 4096).
    public var contextLength: Int? = nil
    public var threads = ProcessInfo.processInfo.activeProcessorCount
    public var maxLoadedModels = 3
    /// Largest JSON request body.
    public var maxBodyBytes = 32 << 20
    /// Largest blob upload.
    public var maxBlobBytes = 64 << 30
    public init() {}
}

/// Runs `body` on a new thread (model loading, quantizing: long, blocking work kept off NIO's and Swift's pools).
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, Error>) in
        let t = Thread { c.resume(with: Result { try body() }) }
        t.stackSize = 16 << 20
        t.start()
    }
}

public actor ModelManager {
    final class Loaded {
        let runner: ModelRunner
        var model: StoredModel
        var refs = 0
        var expiresAt: Date?
        var lastUsed = Date()
        init(runner: ModelRunner, model: StoredModel) {
            self.runner = runner
            self.model = model
        }
    }

    public let config: ServerConfig
    let log: @Sendable (String) -> Void
    private var loaded: [String: Loaded] = [:]
    private var loading: [String: Task<ModelRunner, Error>] = [:]

    public init(config: ServerConfig, log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.config = config
        self.log = log
    }

    static func key(_ m: StoredModel) -> String { ([m.filePath] + m.adapters).joined(separator: "|") }

    /// The runner for `m`, loading it if needed; the caller must `release` it. Returns the load time (0 if loaded).
    public func acquire(_ m: StoredModel) async throws -> (runner: ModelRunner, loadNanoseconds: UInt64) {
        let key = ModelManager.key(m)
        if let l = loaded[key] {
            l.refs += 1
            l.lastUsed = Date()
            l.expiresAt = nil
            l.model = m
            return (l.runner, 0)
        }
        let t0 = now()
        let task: Task<ModelRunner, Error>
        if let t = loading[key] {
            task = t
        } else {
            evictForLoad()
            let config = self.config, path = m.filePath, adapters = m.adapters, log = self.log
            task = Task {
                try await onThread {
                    let model = try Model(path: path, adapterFiles: adapters.map { ($0, 1) })
                    return ModelRunner(model: model, path: path, parallel: config.parallel, maxQueue: config.maxQueue,
                                       contextLength: config.contextLength, threads: config.threads, log: log)
                }
            }
            loading[key] = task
        }
        let runner: ModelRunner
        do { runner = try await task.value } catch {
            loading[key] = nil
            throw APIError(.internalServerError, "loading \(m.displayName): \(error)")
        }
        loading[key] = nil
        let l = loaded[key] ?? Loaded(runner: runner, model: m)
        if loaded[key] == nil {
            loaded[key] = l
            log("loaded \(m.displayName) from \(m.filePath) in \((now() - t0) / 1_000_000) ms")
        }
        l.refs += 1
        l.lastUsed = Date()
        l.expiresAt = nil
        return (l.runner, now() - t0)
    }

    /// Ends one use of `m`; when none is left the keep_alive clock starts (0 unloads now).
    public func release(_ m: StoredModel, keepAlive: KeepAlive) {
        let key = ModelManager.key(m)
        guard let l = loaded[key] else { return }
        l.refs = max(0, l.refs - 1)
        l.lastUsed = Date()
        guard l.refs == 0 else { return }
        switch keepAlive {
        case .forever: l.expiresAt = nil
        case let .seconds(s):
            if s <= 0 { unload(key, why: "keep_alive 0") } else { l.expiresAt = Date().addingTimeInterval(s) }
        }
    }

    /// Whether `m` is loaded now.
    public func isLoaded(_ m: StoredModel) -> Bool { loaded[ModelManager.key(m)] != nil }

    /// Unloads `m` if no request uses it (the unload request of Ollama: empty prompt with keep_alive 0).
    public func unloadIfIdle(_ m: StoredModel) {
        let key = ModelManager.key(m)
        if let l = loaded[key], l.refs == 0 { unload(key, why: "requested") }
    }

    /// Unloads every idle model whose keep_alive has passed (called periodically).
    public func expire() {
        let t = Date()
        for (k, l) in loaded where l.refs == 0 {
            if let e = l.expiresAt, e <= t { unload(k, why: "keep_alive expired") }
        }
    }

    /// Loaded models with their expiry (nil: never), most recently used first.
    public func running() -> [(model: StoredModel, runner: ModelRunner, expiresAt: Date?, inUse: Bool)] {
        loaded.values.sorted { $0.lastUsed > $1.lastUsed }.map { ($0.model, $0.runner, $0.refs > 0 ? Date().addingTimeInterval(keepAliveSeconds) : $0.expiresAt, $0.refs > 0) }
    }

    var keepAliveSeconds: Double {
        if case let .seconds(s) = config.keepAlive { return s }
        return 0
    }

    /// Stops every decode thread (server shutdown): running requests end with an error line.
    public func shutdown() {
        for k in Array(loaded.keys) { unload(k, why: "server shutting down", message: "server shutting down") }
    }

    private func evictForLoad() {
        guard loaded.count >= max(1, config.maxLoadedModels) else { return }
        if let (k, _) = loaded.filter({ $0.value.refs == 0 }).min(by: { $0.value.lastUsed < $1.value.lastUsed }) {
            unload(k, why: "making room (max \(config.maxLoadedModels) loaded models)")
        } else {
            log("all \(loaded.count) loaded models are busy; loading one more than the limit of \(config.maxLoadedModels)")
        }
    }

    private func unload(_ key: String, why: String, message: String = "model unloaded") {
        guard let l = loaded.removeValue(forKey: key) else { return }
        l.runner.shutdown(message)
        log("unloaded \(l.model.displayName) (\(why))")
    }
}
