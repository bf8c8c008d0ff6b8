// llmkit serve: Ollama's HTTP API (and OpenAI's /v1) over the model store — see Sources/Server.
import ArgumentParser
import Foundation
import Logging
import Server

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve models over Ollama's HTTP API and OpenAI's /v1 API.",
        discussion: """
            Models come from the store (--models, LLMKIT_MODELS, default ./models): GGUF files with JSON manifests \
            under manifests/<namespace>/<model>/<tag>.json. Binds 127.0.0.1:11434 unless --host/--port or \
            OLLAMA_HOST say otherwise. SIGINT/SIGTERM end running generations and stop the server.
            """)

    @Option(help: "Address to bind (default 127.0.0.1, or OLLAMA_HOST's).") var host: String?
    @Option(help: "Port (default 11434, or OLLAMA_HOST's).") var port: Int?
    @Option(help: "Model store directory (default: LLMKIT_MODELS or ./models).") var models: String?
    @Option(help: "Sequences decoded together per model.") var parallel = 4
    @Option(help: "Requests waiting per model beyond --parallel before 503 (server busy).") var maxQueue = 512
    @Option(help: "How long an idle model stays loaded: a Go duration (5m, 1h, 0) or whole seconds; negative = forever (default: OLLAMA_KEEP_ALIVE or 5m; write --keep-alive=-1).")
    var keepAlive: String?
    @Option(name: .customLong("ctx"), help: "Default context per sequence (default: min(model's, 4096)).") var contextLength: Int?
    @Option(name: [.customShort("t"), .long], help: "Threads per forward pass (default: the core count).")
    var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Models kept loaded at most (least recently used idle ones are unloaded).") var maxLoadedModels = 3

    func validate() throws {
        guard parallel >= 1 else { throw ValidationError("--parallel must be at least 1") }
        guard maxQueue >= 0 else { throw ValidationError("--max-queue must be 0 or more") }
        guard threads >= 1 else { throw ValidationError("--threads must be positive") }
        guard maxLoadedModels >= 1 else { throw ValidationError("--max-loaded-models must be at least 1") }
        if let c = contextLength, c < 16 { throw ValidationError("--ctx must be at least 16") }
        if let p = port, !(0...65535).contains(p) { throw ValidationError("--port must be 0…65535") }
        if let keepAlive, ServeCommand.keepAliveSeconds(keepAlive) == nil {
            throw ValidationError("--keep-alive: invalid duration \"\(keepAlive)\" (a Go duration such as 5m, or whole seconds)")
        }
    }

    func run() throws {
        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        var logger = Logger(label: "llmkit.serve")
        logger.logLevel = .info
        var (bindHost, bindPort) = ServeCommand.ollamaHost(ProcessInfo.processInfo.environment["OLLAMA_HOST"], warn: { logger.warning("\($0)") })
        if let host { bindHost = host }
        if let port { bindPort = port }
        let root = models ?? ProcessInfo.processInfo.environment["LLMKIT_MODELS"] ?? "models"
        var config = ServerConfig()
        config.parallel = parallel
        config.maxQueue = maxQueue
        var seconds = 300.0
        if let keepAlive {
            seconds = ServeCommand.keepAliveSeconds(keepAlive)!
        } else if let env = ProcessInfo.processInfo.environment["OLLAMA_KEEP_ALIVE"], !env.isEmpty {
            if let s = ServeCommand.keepAliveSeconds(env) { seconds = s } else { logger.warning("OLLAMA_KEEP_ALIVE=\(env) is not a duration; using 5m") }
        }
        config.keepAlive = seconds < 0 ? .forever : .seconds(seconds)
        config.contextLength = contextLength
        config.threads = threads
        config.maxLoadedModels = maxLoadedModels
        let store: ModelStore
        do { store = try ModelStore(root: root) } catch { fail(error) }
        let server = LLMServer(store: store, config: config, logger: logger)
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var failure: Error?
        Task.detached {
            do { try await server.run(host: bindHost, port: bindPort) } catch { failure = error }
            done.signal()
        }
        done.wait()
        if let failure { fail(failure) }
    }

    /// A keep-alive as Ollama's envconfig reads OLLAMA_KEEP_ALIVE: a Go duration, else whole seconds.
    static func keepAliveSeconds(_ text: String) -> Double? {
        KeepAlive.goDuration(text) ?? Int(text.trimmingCharacters(in: .whitespaces)).map(Double.init)
    }

    /// OLLAMA_HOST: `host`, `host:port`, `:port` or `scheme://host[:port][/path]` (envconfig.Host()).
    static func ollamaHost(_ value: String?, warn: (String) -> Void) -> (String, Int) {
        var s = (value ?? "").trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
        guard !s.isEmpty else { return ("127.0.0.1", 11434) }
        var defaultPort = 11434
        if let r = s.range(of: "://") {
            let scheme = s[..<r.lowerBound].lowercased()
            defaultPort = scheme == "https" ? 443 : scheme == "http" ? 80 : 11434
            s = String(s[r.upperBound...])
        }
        if let slash = s.firstIndex(of: "/") { s = String(s[..<slash]) }
        var host = s, port = defaultPort
        if let colon = s.lastIndex(of: ":"), !s.hasSuffix("]") {
            host = String(s[..<colon])
            let p = String(s[s.index(after: colon)...])
            if let n = Int(p), (0...65535).contains(n) { port = n } else { warn("invalid port \(p) in OLLAMA_HOST, using \(defaultPort)"); port = defaultPort }
        }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "127.0.0.1" : host, port)
    }
}
