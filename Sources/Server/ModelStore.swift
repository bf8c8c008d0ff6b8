// ModelStore: a directory of GGUF files and small JSON manifests — the models `llmkit serve` can run.
//
//   <root>/manifests/<namespace>/<model>/<tag>.json   one per name (lower-cased parts; see ModelName)
//   <root>/blobs/sha256-<hex>                         uploaded files (POST /api/blobs/:digest) and created models
//   <root>/*.gguf                                     model files placed by hand or by `make run`
//
// A manifest:
//   {"name": "smollm2:135m",                          the name as it was given (case kept for display)
//    "file": "SmolLM2-135M-Instruct.Q4_1.gguf",       a path relative to <root> (inside it) or "sha256:<hex>"
//    "adapters": [],                                  GGUF LoRA adapter files, same rules (applied at scale 1, stacked)
//    "template": null, "system": null,                overrides of the GGUF's chat template / a default system prompt
//    "parameters": {"temperature": 0.7, "stop": []}}  default options (Ollama's names), under the request's
// Manifests are written by the server (create/copy) or by hand; request-supplied names never become paths without
// ModelName's validation, and a manifest's file must resolve inside the store.
import Formats
import Foundation

public struct StoredModel: Sendable {
    public let name: ModelName
    /// The name as written when the model was created.
    public let displayName: String
    public let manifestPath: String
    /// The GGUF file to load.
    public let filePath: String
    public let adapters: [String]
    public let template: String?
    public let system: String?
    public let parameters: [(String, JSON)]
    public let modifiedAt: Date
    /// Bytes of the GGUF (and adapters).
    public let size: Int
    /// sha256 of the manifest's bytes (Ollama's digest is its manifest's too).
    public let digest: String
    /// The manifest as stored.
    public let manifest: JSON
}

public final class ModelStore: @unchecked Sendable {
    public let root: String
    private let lock = NSLock()

    public init(root: String) throws {
        self.root = (root as NSString).standardizingPath
        let fm = FileManager.default
        do {
            try fm.createDirectory(atPath: self.root + "/manifests", withIntermediateDirectories: true)
            try fm.createDirectory(atPath: self.root + "/blobs", withIntermediateDirectories: true)
        } catch {
            throw APIError(.internalServerError, "cannot use \(self.root) as the model store: \(error.localizedDescription)")
        }
    }

    var manifestsDir: String { root + "/manifests" }

    // MARK: - names

    /// The model with this name, or nil. A manifest that cannot be read is an error naming it.
    public func resolve(_ name: ModelName) throws -> StoredModel? {
        let path = manifestsDir + "/" + name.manifestPath
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return try read(path, name: name)
    }

    /// Every model with a readable manifest, by name. Unreadable ones are passed to `skipped`.
    public func list(skipped: (String, Error) -> Void = { _, _ in }) -> [StoredModel] {
        let fm = FileManager.default
        var out: [StoredModel] = []
        for ns in (try? fm.contentsOfDirectory(atPath: manifestsDir)) ?? [] {
            for model in (try? fm.contentsOfDirectory(atPath: "\(manifestsDir)/\(ns)")) ?? [] {
                for file in (try? fm.contentsOfDirectory(atPath: "\(manifestsDir)/\(ns)/\(model)")) ?? [] where file.hasSuffix(".json") {
                    let path = "\(manifestsDir)/\(ns)/\(model)/\(file)"
                    do {
                        let name = try ModelName("\(ns)/\(model):\(file.dropLast(5))")
                        out.append(try read(path, name: name))
                    } catch { skipped(path, error) }
                }
            }
        }
        return out.sorted { $0.name.key < $1.name.key }
    }

    func read(_ path: String, name: ModelName) throws -> StoredModel {
        guard let data = FileManager.default.contents(atPath: path) else { throw storeError("cannot read \(path)") }
        guard let text = String(data: data, encoding: .utf8), case let .object(o) = try? JSON.parse(text) else {
            throw storeError("manifest \(path) is not a JSON object")
        }
        let m = RequestJSON(type: "Manifest", fields: o)
        do {
            guard let file = try m.string("file") else { throw storeError("manifest \(path) has no \"file\"") }
            let filePath = try resolveFile(file, manifest: path)
            let adapters = try (m.strings("adapters") ?? []).map { try resolveFile($0, manifest: path) }
            let attrs = try? FileManager.default.attributesOfItem(atPath: path)
            var size = 0
            for f in [filePath] + adapters {
                guard let a = try? FileManager.default.attributesOfItem(atPath: f) else {
                    throw APIError.notFound("model '\(name)' not found, try pulling it first (its file \(f) is missing)")
                }
                size += (a[.size] as? NSNumber)?.intValue ?? 0
            }
            return StoredModel(name: name, displayName: (try? m.string("name")) ?? nil ?? name.description, manifestPath: path,
                               filePath: filePath, adapters: adapters, template: try m.string("template"),
                               system: try m.string("system"), parameters: try m.object("parameters", type: "Parameters")?.fields ?? [],
                               modifiedAt: attrs?[.modificationDate] as? Date ?? Date(), size: size,
                               digest: SHA256.hex(Array(data)), manifest: .object(o))
        } catch let e as APIError where e.status == .badRequest {
            throw storeError("manifest \(path): \(e.message)")
        }
    }

    /// A manifest's file reference as an absolute path inside the store.
    func resolveFile(_ ref: String, manifest: String) throws -> String {
        if ref.hasPrefix("sha256:") || ref.hasPrefix("sha256-") {
            return try blobPath(ref)
        }
        let parts = ref.split(separator: "/", omittingEmptySubsequences: false)
        guard !ref.isEmpty, !ref.hasPrefix("/"), !ref.contains("\0"), !parts.contains(where: { $0 == ".." || $0.isEmpty }) else {
            throw storeError("manifest \(manifest): file \"\(ref)\" must be a path inside the store or a sha256 digest")
        }
        return root + "/" + ref
    }

    func storeError(_ m: String) -> APIError { APIError(.internalServerError, m) }

    // MARK: - writing

    /// Writes (or replaces) the manifest of `name`.
    public func write(_ name: ModelName, manifest: JSON) throws {
        let path = manifestsDir + "/" + name.manifestPath
        lock.lock(); defer { lock.unlock() }
        do {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            let tmp = path + ".\(getpid()).tmp"
            try Data((manifest.serialized(indent: 2) + "\n").utf8).write(to: URL(fileURLWithPath: tmp))
            if rename(tmp, path) != 0 { throw storeError("cannot write \(path): \(String(cString: strerror(errno)))") }
        } catch let e as APIError { throw e } catch {
            throw storeError("cannot write \(path): \(error.localizedDescription)")
        }
    }

    /// Removes `name`'s manifest (the files it names stay: other names may share them). False if absent.
    public func delete(_ name: ModelName) -> Bool {
        let path = manifestsDir + "/" + name.manifestPath
        lock.lock(); defer { lock.unlock() }
        guard FileManager.default.fileExists(atPath: path) else { return false }
        try? FileManager.default.removeItem(atPath: path)
        // Tidy empty folders so /api/tags stays a plain walk.
        let dir = (path as NSString).deletingLastPathComponent
        if (try? FileManager.default.contentsOfDirectory(atPath: dir))?.isEmpty == true { try? FileManager.default.removeItem(atPath: dir) }
        return true
    }

    /// The manifest of `source` under a new name, with "name" updated.
    public func copy(_ source: StoredModel, to destination: ModelName, displayName: String) throws {
        guard case var .object(o) = source.manifest else { return }
        o.removeAll { $0.0 == "name" }
        o.insert(("name", .string(displayName)), at: 0)
        try write(destination, manifest: .object(o))
    }

    // MARK: - blobs

    /// "sha256:<64 hex>" (or "sha256-…") → the blob's path. Anything else is a 400.
    public func blobPath(_ digest: String) throws(APIError) -> String {
        guard let hex = ModelStore.digestHex(digest) else { throw .badRequest("invalid digest format") }
        return root + "/blobs/sha256-" + hex
    }

    public static func digestHex(_ digest: String) -> String? {
        guard digest.hasPrefix("sha256:") || digest.hasPrefix("sha256-") else { return nil }
        let hex = digest.dropFirst(7).lowercased()
        guard hex.count == 64, hex.allSatisfy({ $0.isHexDigit && $0.isASCII }) else { return nil }
        return String(hex)
    }
}
