// FormatError: every way a file on disk can be wrong or unreadable, each naming the file, the field
// and the value at fault. Readers throw these for bad input; they never trap on it.

public enum FormatError: Error, CustomStringConvertible, Equatable {
    /// The file ends before `field` could be read: it needs `need` bytes at `offset`, only `available` exist.
    case truncated(file: String, field: String, offset: Int, need: Int, available: Int)
    /// The first bytes are not this format's magic.
    case badMagic(file: String, found: String)
    /// A version this reader does not understand.
    case unsupportedVersion(file: String, version: UInt64)
    /// A header field holds a value that cannot be right (absurd count, unknown type id, overlap, ...).
    case invalid(file: String, field: String, value: String, reason: String)
    /// A required key or tensor is missing.
    case missing(file: String, field: String)
    /// The operating system refused (open, stat, mmap, write, rename ...).
    case io(path: String, operation: String, message: String)
    /// A JSON document failed to parse or has the wrong shape.
    case json(file: String, message: String)
    /// The data is valid but uses something we cannot (yet) handle.
    case unsupported(file: String, what: String)

    public var description: String {
        switch self {
        case let .truncated(file, field, offset, need, available):
            return "\(file): truncated at \(field): need \(need) bytes at offset \(offset), file has \(available)"
        case let .badMagic(file, found):
            return "\(file): not a recognised file (magic \(found))"
        case let .unsupportedVersion(file, version):
            return "\(file): unsupported version \(version)"
        case let .invalid(file, field, value, reason):
            return "\(file): invalid \(field) = \(value): \(reason)"
        case let .missing(file, field):
            return "\(file): missing \(field)"
        case let .io(path, operation, message):
            return "\(path): \(operation) failed: \(message)"
        case let .json(file, message):
            return "\(file): bad JSON: \(message)"
        case let .unsupported(file, what):
            return "\(file): unsupported: \(what)"
        }
    }
}
