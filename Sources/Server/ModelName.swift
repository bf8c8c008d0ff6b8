// ModelName: `[namespace/]model[:tag]` as Ollama writes it — tag `latest` when absent, namespace `library`, matched
// case-insensitively. Every part is checked against a strict alphabet before it is used as a path component in
// the store, so no request can name a file outside it (`../`, `/etc/passwd`, NUL, backslashes → "invalid model name").

public struct ModelName: Hashable, Sendable, CustomStringConvertible {
    public let namespace: String
    public let model: String
    public let tag: String

    /// Parses and validates a name; throws 400 "invalid model name" for anything outside the alphabet.
    public init(_ raw: String) throws(APIError) {
        guard !raw.isEmpty, raw.utf8.count <= 256 else { throw ModelName.invalid }
        var rest = Substring(raw)
        var tag = "latest"
        if let colon = rest.lastIndex(of: ":"), !rest[colon...].contains("/") {
            tag = String(rest[rest.index(after: colon)...])
            rest = rest[..<colon]
        }
        let parts = rest.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { throw ModelName.invalid }
        let namespace = parts.count == 2 ? String(parts[0]) : "library"
        let model = String(parts.last!)
        guard ModelName.isComponent(namespace), ModelName.isComponent(model), ModelName.isTag(tag) else { throw ModelName.invalid }
        self.namespace = namespace
        self.model = model
        self.tag = tag
    }

    static let invalid = APIError.badRequest("invalid model name")

    /// A name or namespace part: starts with a letter or digit, then letters, digits, `_`, `.`, `-`; ≤ 80 long.
    static func isComponent(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, s.unicodeScalars.count <= 80, isAlnum(first) else { return false }
        return s.unicodeScalars.allSatisfy { isAlnum($0) || $0 == "_" || $0 == "." || $0 == "-" }
    }

    /// A tag: as a component, but may also start with `_`.
    static func isTag(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, s.unicodeScalars.count <= 80, isAlnum(first) || first == "_" else { return false }
        return s.unicodeScalars.allSatisfy { isAlnum($0) || $0 == "_" || $0 == "." || $0 == "-" }
    }

    static func isAlnum(_ u: Unicode.Scalar) -> Bool {
        (u >= "a" && u <= "z") || (u >= "A" && u <= "Z") || (u >= "0" && u <= "9")
    }

    /// As shown to clients: `model:tag`, with the namespace when it is not `library`.
    public var description: String { (namespace == "library" ? "" : namespace + "/") + model + ":" + tag }

    /// The case-folded identity (two names are the same model when their keys are equal).
    public var key: String { description.lowercased() }

    /// Path of the manifest under the store's `manifests/` folder (lower-cased parts; validated above).
    public var manifestPath: String { "\(namespace.lowercased())/\(model.lowercased())/\(tag.lowercased()).json" }

    public static func == (a: ModelName, b: ModelName) -> Bool { a.key == b.key }
    public func hash(into h: inout Hasher) { h.combine(key) }
}
