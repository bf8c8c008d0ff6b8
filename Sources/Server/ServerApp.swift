// ServerApp: `llmkit serve` as a library — the Hummingbird application, its router (Ollama's /api routes, OpenAI's
// /v1 routes, HEAD/GET /), the access log, and the run loop with graceful shutdown (SIGINT/SIGTERM: running
// generations end with an error line, the server stops accepting, in-flight responses finish, exit 0).
// Handlers live beside their wire types: OllamaAPI.swift, OllamaModels.swift, OpenAIAPI.swift.
import Dispatch
import Formats
import Foundation
import Hummingbird
import Infer
import Logging
import NIOCore

/// Per-request context: the connection (to notice a client that went away) and our request id.
public struct ServerContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel
    public var requestID = ""

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// Bodies are read by the handlers with their own limits (JSON vs blob uploads).
    public var maxUploadSize: Int { Int.max }

    /// True once the client's connection has closed (polled by the scheduler once per step).
    public var isDisconnected: @Sendable () -> Bool {
        let channel = self.channel
        return { !channel.isActive }
    }
}

public final class LLMServer: Sendable {
    /// The Ollama version we speak (reported by /api/version; clients compare it for features).
    public static let ollamaVersion = "0.6.4"

    public let store: ModelStore
    public let manager: ModelManager
    public let config: ServerConfig
    public let logger: Logger
    let requestCounter = RequestCounter()
    let details = DetailsCache()

    public init(store: ModelStore, config: ServerConfig, logger: Logger) {
        self.store = store
        self.config = config
        self.logger = logger
        let log = logger
        manager = ModelManager(config: config, log: { log.info("\($0)") })
    }

    // MARK: - router

    public func buildRouter() -> Router<ServerContext> {
        let router = Router(context: ServerContext.self)
        router.add(middleware: AccessLog(server: self))
        router.get("/") { _, _ in Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: "Ollama is running"))) }
        router.head("/") { _, _ in Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"]) }
        router.get("/api/version") { _, _ in LLMServer.json(.object([("version", .string(LLMServer.ollamaVersion))])) }
        router.head("/api/version") { _, _ in Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"]) }
        addOllamaRoutes(router)
        addModelRoutes(router)
        addOpenAIRoutes(router)
        addEmbeddingRoutes(router)
        return router
    }

    /// The application bound to host:port; `onRunning` gets the bound port (useful with port 0).
    public func buildApplication(host: String, port: Int, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        Application(router: buildRouter(), configuration: .init(address: .hostname(host, port: port), serverName: "llmkit"),
                    onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
                    logger: logger)
    }

    /// Serves until SIGINT/SIGTERM, then shuts down gracefully.
    public func run(host: String, port: Int) async throws {
        let app = buildApplication(host: host, port: port) { [logger] bound in
            logger.info("llmkit serve listening on http://\(host):\(bound) (store \(self.store.root))")
        }
        // keep_alive: unload idle models whose time has passed.
        let janitor = Task { [manager] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(250))
                await manager.expire()
            }
        }
        // On a shutdown signal, end running generations first so their connections close and the graceful
        // shutdown (Hummingbird's, on the same signals) does not wait for long answers.
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        var sources: [DispatchSourceSignal] = []
        for sig in [SIGINT, SIGTERM] {
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { [manager, logger] in
                logger.info("shutting down: ending running generations")
                Task { await manager.shutdown() }
            }
            s.resume()
            sources.append(s)
        }
        defer {
            janitor.cancel()
            for s in sources { s.cancel() }
        }
        try await app.runService()
        await manager.shutdown()
        logger.info("llmkit serve stopped")
    }

    // MARK: - helpers shared by the handlers

    static func json(_ value: JSON, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json; charset=utf-8"],
                 body: .init(byteBuffer: ByteBuffer(string: value.serialized())))
    }

    /// The request body as a JSON object (limit: config.maxBodyBytes).
    func readJSON(_ request: Request, type: String) async throws -> RequestJSON {
        try RequestJSON.parse(try await readBody(request, limit: config.maxBodyBytes), type: type)
    }

    func readBody(_ request: Request, limit: Int) async throws -> [UInt8] {
        do {
            let buffer = try await request.body.collect(upTo: limit)
            return Array(buffer: buffer)
        } catch let e as HTTPError where e.status == .contentTooLarge {
            throw APIError(.contentTooLarge, "request body too large (the limit is \(limit) bytes)")
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, "request body too large (the limit is \(limit) bytes)")
        }
    }

    /// The model a request names: 404 "model 'x' not found" when it is not in the store.
    func resolve(_ raw: String, notFound: (String) -> APIError = APIError.modelNotFound) throws -> StoredModel {
        let name = try ModelName(raw)
        guard let m = try store.resolve(name) else { throw notFound(raw) }
        return m
    }
}

/// Request ids: a short process-unique counter.
final class RequestCounter: Sendable {
    private let value = Mutex<Int>(0)
    func next() -> String { "req-" + String(value.withLock { $0 += 1; return $0 }) }
}

import Synchronization

/// One structured log line per request: id, method, path, status, duration. Generation handlers add a line with
/// the model, token counts and durations when the answer ends.
struct AccessLog: RouterMiddleware {
    typealias Context = ServerContext
    let server: LLMServer

    func handle(_ request: Request, context: ServerContext, next: (Request, ServerContext) async throws -> Response) async throws -> Response {
        var context = context
        context.requestID = server.requestCounter.next()
        let t0 = DispatchTime.now().uptimeNanoseconds
        func line(_ status: Int) {
            server.logger.info("request", metadata: [
                "id": .string(context.requestID), "method": .string(request.method.rawValue), "path": .string(request.uri.path),
                "status": .stringConvertible(status),
                "ms": .string(String(format: "%.1f", Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)),
            ])
        }
        do {
            let r = try await next(request, context)
            line(Int(r.status.code))
            return r
        } catch {
            var e = APIError.from(error)
            if let h = error as? HTTPError, h.status == .notFound, !(error is APIError) {
                e = APIError(.notFound, "404 page not found")
            }
            if request.uri.path.hasPrefix("/v1/") { e.openAI = true }
            line(Int(e.status.code))
            throw e
        }
    }
}
