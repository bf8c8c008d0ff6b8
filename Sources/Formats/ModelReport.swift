// ModelReport: what `llmkit inspect` shows of a model file — format, metadata, tensor table, totals —
// for a GGUF file, a safetensors file, or a Hugging Face folder, as text or as JSON.

import Foundation

public struct ModelReport {
    public struct Tensor { public let name, type: String; public let shape: [Int]; public let offset, bytes, elements: Int }

    public let path: String
    public let format: String
    /// Header facts (version, alignment, data offset, files ...), in display order.
    public let header: [(String, JSON)]
    /// GGUF metadata (typed), or safetensors `__metadata__` / config.json entries.
    public let metadata: [(key: String, type: String, value: GGUFValue)]
    public let config: JSON?
    public let tensors: [Tensor]
    /// "ggml" for GGUF (ne0 first), "numpy" for safetensors.
    public let shapeOrder: String

    public var parameters: Int { tensors.reduce(0) { $0 + $1.elements } }
    public var bytes: Int { tensors.reduce(0) { $0 + $1.bytes } }
    public var bitsPerWeight: Double { parameters == 0 ? 0 : Double(bytes) * 8 / Double(parameters) }

    public init(path: String) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw FormatError.io(path: path, operation: "open", message: "no such file or folder")
        }
        self.path = path
        if isDir.boolValue {
            let ck = try SafetensorsCheckpoint(directory: path)
            format = ck.files.count == 1 ? "safetensors" : "safetensors (\(ck.files.count) shards)"
            header = [("files", .array(ck.files.map { .string(URL(fileURLWithPath: $0.path).lastPathComponent) }))]
            metadata = (ck.files.first?.metadata ?? [:]).sorted { $0.key < $1.key }.map { ($0.key, "string", .string($0.value)) }
            let cfg = path + "/config.json"
            config = FileManager.default.fileExists(atPath: cfg) ? ModelReport.toJSON(try JSON.parseFile(cfg)) : nil
            tensors = ck.tensors.map { e in
                Tensor(name: e.tensor.name, type: e.tensor.dtype.name, shape: e.tensor.shape,
                       offset: ck.files[e.file].dataOffset + e.tensor.offset, bytes: e.tensor.byteCount, elements: e.tensor.elementCount)
            }.sorted { $0.name < $1.name }
            shapeOrder = "numpy"
            return
        }
        let file = try MappedFile(path: path)
        if file.count >= 4, file.base.loadUnaligned(as: UInt32.self) == GGUFFile.magic.littleEndian {
            let g = try GGUFFile(file)
            format = "gguf"
            header = [("version", .int(Int(g.version))), ("alignment", .int(g.alignment)), ("data_offset", .int(g.dataOffset)),
                      ("file_size", .int(file.count))]
            metadata = g.metadata.map { ($0.key, ModelReport.typeName($0.value), $0.value) }
            config = nil
            tensors = g.tensors.map {
                Tensor(name: $0.name, type: $0.type.name, shape: $0.dims, offset: g.dataOffset + $0.offset,
                       bytes: $0.byteCount, elements: $0.elementCount)
            }
            shapeOrder = "ggml"
        } else {
            let s = try SafetensorsFile(file)
            format = "safetensors"
            header = [("header_size", .int(s.dataOffset - 8)), ("file_size", .int(file.count))]
            metadata = s.metadata.sorted { $0.key < $1.key }.map { ($0.key, "string", .string($0.value)) }
            config = nil
            tensors = s.tensors.map {
                Tensor(name: $0.name, type: $0.dtype.name, shape: $0.shape, offset: s.dataOffset + $0.offset,
                       bytes: $0.byteCount, elements: $0.elementCount)
            }.sorted { $0.name < $1.name }
            shapeOrder = "numpy"
        }
    }

    static func typeName(_ v: GGUFValue) -> String {
        if case let .array(et, a) = v { return "[\(et) × \(a.count)]" }
        return v.type.description
    }

    // MARK: - JSON

    public func json() -> JSON {
        var fields: [(String, JSON)] = [("path", .string(path)), ("format", .string(format))]
        fields += header
        fields.append(("metadata", .array(metadata.map { m in
            var o: [(String, JSON)] = [("key", .string(m.key)), ("type", .string(m.value.type.description))]
            if case let .array(et, a) = m.value {
                o.append(("element_type", .string(et.description)))
                o.append(("count", .int(a.count)))
            }
            o.append(("value", ModelReport.json(m.value)))
            return .object(o)
        })))
        if let config { fields.append(("config", config)) }
        fields.append(("shape_order", .string(shapeOrder)))
        fields.append(("tensors", .array(tensors.map {
            .object([("name", .string($0.name)), ("type", .string($0.type)), ("shape", .array($0.shape.map { .int($0) })),
                     ("offset", .int($0.offset)), ("bytes", .int($0.bytes))])
        })))
        fields.append(("totals", .object([("tensors", .int(tensors.count)), ("parameters", .int(parameters)),
                                          ("bytes", .int(bytes)), ("bits_per_weight", .double(bitsPerWeight))])))
        return .object(fields)
    }

    public static func json(_ v: GGUFValue) -> JSON {
        switch v {
        case let .uint8(x): .int(Int(x))
        case let .int8(x): .int(Int(x))
        case let .uint16(x): .int(Int(x))
        case let .int16(x): .int(Int(x))
        case let .uint32(x): .int(Int(x))
        case let .int32(x): .int(Int(x))
        case let .uint64(x): x <= UInt64(Int.max) ? .int(Int(x)) : .double(Double(x))
        case let .int64(x): .int(Int(x))
        case let .float32(x): JSON.float(x)
        case let .float64(x): .double(x)
        case let .bool(x): .bool(x)
        case let .string(s): .string(s)
        case let .array(_, a): .array(a.map(json))
        }
    }

    static func toJSON(_ any: Any) -> JSON {
        switch any {
        case let s as String: return .string(s)
        case let d as [String: Any]: return .object(d.keys.sorted().map { ($0, toJSON(d[$0]!)) })
        case let a as [Any]: return .array(a.map(toJSON))
        case is NSNull: return .null
        default:
            if let b = JSON.bool(any) { return .bool(b) }
            if let i = JSON.int(any) { return .int(i) }
            if let d = JSON.double(any) { return .double(d) }
            return .string("\(any)")
        }
    }

    // MARK: - text

    public func text(maxArray: Int = 8) -> String {
        var out = "\(format)  \(path)\n"
        out += header.map { "\($0.0) \($0.1.serialized())" }.joined(separator: ", ") + "\n"
        if !metadata.isEmpty {
            out += "\nmetadata (\(metadata.count) keys)\n"
            let w = min(48, metadata.map(\.key.count).max() ?? 0)
            for m in metadata {
                out += "  " + m.key.padding(toLength: max(w, m.key.count), withPad: " ", startingAt: 0) + "  "
                out += m.type.padding(toLength: 16, withPad: " ", startingAt: 0) + "  " + ModelReport.short(m.value, maxArray) + "\n"
            }
        }
        if let config { out += "\nconfig.json\n  " + ModelReport.clip(config.serialized(), 400) + "\n" }
        out += "\ntensors (\(tensors.count), shapes in \(shapeOrder) order)\n"
        let nw = min(48, tensors.map(\.name.count).max() ?? 4)
        out += "  " + "name".padding(toLength: nw, withPad: " ", startingAt: 0) + "  type     " +
            "shape".padding(toLength: 22, withPad: " ", startingAt: 0) + "        bytes\n"
        for t in tensors {
            out += "  " + t.name.padding(toLength: max(nw, t.name.count), withPad: " ", startingAt: 0) + "  "
            out += t.type.padding(toLength: 7, withPad: " ", startingAt: 0) + "  "
            out += ("[" + t.shape.map(String.init).joined(separator: ", ") + "]").padding(toLength: 22, withPad: " ", startingAt: 0)
            out += String(t.bytes).leftPadded(13, with: " ") + "\n"
        }
        var byType: [String: (Int, Int, Int)] = [:]
        for t in tensors {
            let c = byType[t.type, default: (0, 0, 0)]
            byType[t.type] = (c.0 + 1, c.1 + t.elements, c.2 + t.bytes)
        }
        out += "\ntotals\n"
        out += "  \(tensors.count) tensors, \(ModelReport.count(parameters)) parameters, \(ModelReport.size(bytes)), "
        out += String(format: "%.2f bits per weight\n", bitsPerWeight)
        for (k, v) in byType.sorted(by: { $0.value.2 > $1.value.2 }) {
            out += "  \(k.padding(toLength: 7, withPad: " ", startingAt: 0)) \(String(v.0).leftPadded(5, with: " ")) tensors  \(ModelReport.count(v.1).leftPadded(9, with: " ")) params  \(ModelReport.size(v.2))\n"
        }
        return out
    }

    static func short(_ v: GGUFValue, _ maxArray: Int) -> String {
        switch v {
        case let .string(s): return clip(JSON.string(s).serialized(), 100)
        case let .array(_, a):
            let shown = a.prefix(maxArray).map { short($0, maxArray) }
            return "[" + shown.joined(separator: ", ") + (a.count > maxArray ? ", … (\(a.count - maxArray) more)" : "") + "]"
        default: return ModelReport.json(v).serialized()
        }
    }

    static func clip(_ s: String, _ n: Int) -> String { s.count <= n ? s : String(s.prefix(n)) + "…" }

    static func count(_ n: Int) -> String {
        n >= 1_000_000_000 ? String(format: "%.2f B", Double(n) / 1e9)
            : n >= 1_000_000 ? String(format: "%.2f M", Double(n) / 1e6)
            : n >= 1000 ? String(format: "%.2f K", Double(n) / 1e3) : String(n)
    }

    static func size(_ n: Int) -> String {
        n >= 1 << 30 ? String(format: "%.2f GiB", Double(n) / Double(1 << 30))
            : n >= 1 << 20 ? String(format: "%.2f MiB", Double(n) / Double(1 << 20))
            : n >= 1024 ? String(format: "%.2f KiB", Double(n) / 1024) : "\(n) B"
    }
}
