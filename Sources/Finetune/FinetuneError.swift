// FinetuneError: what can go wrong while collecting data, training, checkpointing and evaluating. Messages
// name the file, option or value at fault, on one line (the CLI prints them as is).

public enum FinetuneError: Error, CustomStringConvertible, Equatable {
    /// A bad option or configuration value (e.g. `--dim 100` with `--heads 8`).
    case config(String)
    /// A file that cannot be read or does not hold what it should (corpus, checkpoint, dataset).
    case data(file: String, message: String)
    /// A checkpoint that does not match the run it is resumed into.
    case checkpoint(file: String, message: String)

    public var description: String {
        switch self {
        case let .config(m): m
        case let .data(file, message): "\(file): \(message)"
        case let .checkpoint(file, message): "\(file): \(message)"
        }
    }
}
