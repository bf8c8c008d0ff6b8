// InferError: what can go wrong loading a model, a tokenizer or a chat template, or generating. Messages name
// the file / field / position so a user can act on them.

import Formats

public enum InferError: Error, CustomStringConvertible, Equatable {
    /// A model file that is a valid GGUF but not a model we can run (architecture, missing tensor, shape).
    case model(file: String, message: String)
    /// A tokenizer that cannot be built from the metadata / tokenizer.json given.
    case tokenizer(String)
    /// A chat template that cannot be parsed or rendered (line and column where known).
    case template(String)
    /// A request we cannot honour (prompt longer than the context, bad sampling parameter, …).
    case invalidRequest(String)

    public var description: String {
        switch self {
        case let .model(file, message): "\(file): \(message)"
        case let .tokenizer(m): "tokenizer: \(m)"
        case let .template(m): "chat template: \(m)"
        case let .invalidRequest(m): m
        }
    }
}
