// APIError: every error the server answers with — an HTTP status and a message, rendered as Ollama's
// `{"error": "…"}` or, on the /v1 routes, as OpenAI's `{"error": {"message", "type", "param", "code"}}`.
// Library errors (InferError, FormatError, QuantError) are mapped here once, so handlers just `throw`.
import Formats
import Foundation
import Hummingbird
import Infer

public struct APIError: Error, HTTPResponseError, CustomStringConvertible {
    public let status: HTTPResponse.Status
    public let message: String
    /// Render in OpenAI's error shape (set by the /v1 routes).
    public var openAI = false

    public init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }

    public var description: String { "\(status.code) \(message)" }

    public static func badRequest(_ m: String) -> APIError { APIError(.badRequest, m) }
    public static func notFound(_ m: String) -> APIError { APIError(.notFound, m) }
    /// Ollama's "model 'x' not found" (generate, chat, show, delete).
    public static func modelNotFound(_ name: String) -> APIError { APIError(.notFound, "model '\(name)' not found") }
    /// Ollama's scheduler text when the queue is full (server/sched.go ErrMaxQueue).
    public static let busy = APIError(.serviceUnavailable, "server busy, please try again.  maximum pending requests exceeded")

    /// The body: `{"error": message}` (Ollama) or OpenAI's nested object.
    public var json: JSON {
        guard openAI else { return .object([("error", .string(message))]) }
        let type = status == .badRequest ? "invalid_request_error" : status == .notFound ? "not_found_error" : "api_error"
        return .object([("error", .object([("message", .string(message)), ("type", .string(type)),
                                           ("param", .null), ("code", .null)]))])
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(status: status, headers: [.contentType: "application/json; charset=utf-8"],
                 body: .init(byteBuffer: ByteBuffer(string: json.serialized())))
    }

    /// Any error thrown below a handler, as the API reports it: bad requests are 400s, everything else a 500
    /// whose message still names what failed.
    public static func from(_ error: Error) -> APIError {
        switch error {
        case let e as APIError: return e
        case let e as InferError:
            if case .invalidRequest = e { return .badRequest(e.description) }
            if case .template = e { return .badRequest(e.description) }
            return APIError(.internalServerError, e.description)
        case let e as HTTPError:
            if e.status == .contentTooLarge { return APIError(.contentTooLarge, "request body too large") }
            return APIError(e.status, e.body ?? e.status.reasonPhrase)
        default: return APIError(.internalServerError, "\(error)")
        }
    }
}
