// Safetensors: the Hugging Face tensor file, read in place from a memory map, and its writer.
//
//   u64 N (LE) | N bytes of JSON header, starting with `{`, padded with spaces | byte buffer
//   header: {"__metadata__": {"k": "v", ...}, "NAME": {"dtype": "F16", "shape": [..],
//            "data_offsets": [BEGIN, END]}, ...}     offsets relative to the byte buffer, END exclusive
//
// Validation follows the reference implementation: header ≤ 100 MB, tensors cover the buffer exactly
// (sorted by offset, no holes, no overlap), size = elements × dtype size. Shapes are in numpy order.
// The writer orders tensors as the reference does (dtype descending in its enum order, then name),
// pads the header with spaces to a multiple of 8, and streams tensor bytes from a producer.

import Foundation

public struct SafetensorsDType: Hashable, Sendable, CustomStringConvertible {
    public let name: String
    /// Bytes per element.
    public let size: Int
    /// Position in the reference implementation's `Dtype` enum (the writer's sort key).
    let order: Int
    public var description: String { name }

    public static let bool = SafetensorsDType(name: "BOOL", size: 1, order: 0)
    public static let u8 = SafetensorsDType(name: "U8", size: 1, order: 4)
    public static let i8 = SafetensorsDType(name: "I8", size: 1, order: 5)
    public static let f8_e5m2 = SafetensorsDType(name: "F8_E5M2", size: 1, order: 6)
    public static let f8_e4m3 = SafetensorsDType(name: "F8_E4M3", size: 1, order: 7)
    public static let f8_e8m0 = SafetensorsDType(name: "F8_E8M0", size: 1, order: 8)
    public static let i16 = SafetensorsDType(name: "I16", size: 2, order: 11)
    public static let u16 = SafetensorsDType(name: "U16", size: 2, order: 12)
    public static let f16 = SafetensorsDType(name: "F16", size: 2, order: 13)
    public static let bf16 = SafetensorsDType(name: "BF16", size: 2, order: 14)
    public static let i32 = SafetensorsDType(name: "I32", size: 4, order: 15)
    public static let u32 = SafetensorsDType(name: "U32", size: 4, order: 16)
    public static let f32 = SafetensorsDType(name: "F32", size: 4, order: 17)
    public static let c64 = SafetensorsDType(name: "C64", size: 8, order: 18)
    public static let f64 = SafetensorsDType(name: "F64", size: 8, order: 19)
    public static let i64 = SafetensorsDType(name: "I64", size: 8, order: 20)
    public static let u64 = SafetensorsDType(name: "U64", size: 8, order: 21)

    public static let all: [SafetensorsDType] = [
        bool, u8, i8, f8_e5m2, f8_e4m3, f8_e8m0, i16, u16, f16, bf16, i32, u32, f32, c64, f64, i64, u64,
    ]
    private static let byName = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })

    public init?(name: String) {
        guard let d = SafetensorsDType.byName[name] else { return nil }
        self = d
    }

    private init(name: String, size: Int, order: Int) { self.name = name; self.size = size; self.order = order }

    /// The ggml type with the same element encoding, where there is one.
    public var ggmlType: GGMLType? {
        switch self {
        case .f32: .f32
        case .f16: .f16
        case .bf16: .bf16
        case .f64: .f64
        case .i8: .i8
        case .i16: .i16
        case .i32: .i32
        case .i64: .i64
        default: nil
        }
    }
}

public struct SafetensorsTensor: Sendable {
    public let name: String
    public let dtype: SafetensorsDType
    /// numpy order.
    public let shape: [Int]
    /// Offset of the data from the start of the byte buffer.
    public let offset: Int
    public let byteCount: Int
    public var elementCount: Int { shape.reduce(1, *) }
}

public final class SafetensorsFile: @unchecked Sendable {
    public static let maxHeaderSize = 100_000_000

    public let file: MappedFile
    /// Absolute file offset of the byte buffer (8 + header length).
    public let dataOffset: Int
    public let metadata: [String: String]
    /// Tensors in file (offset) order.
    public let tensors: [SafetensorsTensor]
    private let byName: [String: Int]

    public var path: String { file.path }

    public convenience init(path: String) throws { try self.init(try MappedFile(path: path)) }

    public init(_ file: MappedFile) throws {
        self.file = file
        let name = file.path
        var c = ByteCursor(file)
        let n = try c.size("header length")
        guard n <= SafetensorsFile.maxHeaderSize else {
            throw FormatError.invalid(file: name, field: "header length", value: String(n),
                                      reason: "over the 100 MB limit")
        }
        let header = try c.bytes(n, "header")
        guard n >= 2, header[0] == UInt8(ascii: "{") else {
            throw FormatError.invalid(file: name, field: "header", value: n == 0 ? "<empty>" : "starts with byte \(header[0])",
                                      reason: "must be a JSON object starting with '{'")
        }
        self.dataOffset = 8 + n
        let bufferSize = file.count - dataOffset

        let json = try JSON.parse(Data(header), file: name)
        guard let obj = json as? [String: Any] else {
            throw FormatError.json(file: name, message: "header is not a JSON object")
        }
        var metadata: [String: String] = [:]
        var tensors: [SafetensorsTensor] = []
        tensors.reserveCapacity(obj.count)
        for (key, value) in obj {
            if key == "__metadata__" {
                guard let m = value as? [String: Any] else {
                    throw FormatError.invalid(file: name, field: "__metadata__", value: "\(value)", reason: "must be an object")
                }
                for (k, v) in m {
                    guard let s = v as? String else {
                        throw FormatError.invalid(file: name, field: "__metadata__.\(k)", value: "\(v)",
                                                  reason: "metadata values must be strings")
                    }
                    metadata[k] = s
                }
                continue
            }
            tensors.append(try SafetensorsFile.tensorEntry(key, value, file: name))
        }
        tensors.sort { ($0.offset, $0.byteCount, $0.name) < ($1.offset, $1.byteCount, $1.name) }
        // The buffer must be covered exactly: each tensor starts where the previous one ended.
        var end = 0
        for t in tensors {
            guard t.offset == end else {
                throw FormatError.invalid(file: name, field: "\(t.name).data_offsets", value: "[\(t.offset), \(t.offset + t.byteCount)]",
                                          reason: t.offset < end ? "overlaps the previous tensor (which ends at \(end))"
                                                                 : "leaves a hole after offset \(end)")
            }
            end += t.byteCount
        }
        guard end == bufferSize else {
            if end > bufferSize {
                throw FormatError.truncated(file: name, field: "tensor data", offset: dataOffset, need: end, available: file.count)
            }
            throw FormatError.invalid(file: name, field: "byte buffer", value: "\(bufferSize) bytes",
                                      reason: "tensors cover only \(end) bytes")
        }
        self.metadata = metadata
        self.tensors = tensors
        self.byName = Dictionary(uniqueKeysWithValues: tensors.enumerated().map { ($1.name, $0) })
    }

    static func tensorEntry(_ key: String, _ value: Any, file: String) throws -> SafetensorsTensor {
        guard let e = value as? [String: Any] else {
            throw FormatError.invalid(file: file, field: key, value: "\(value)", reason: "tensor entry must be an object")
        }
        guard let dn = e["dtype"] as? String else { throw FormatError.missing(file: file, field: "\(key).dtype") }
        guard let dtype = SafetensorsDType(name: dn) else {
            throw FormatError.invalid(file: file, field: "\(key).dtype", value: dn, reason: "unknown or unsupported dtype")
        }
        guard let rawShape = e["shape"] as? [Any] else { throw FormatError.missing(file: file, field: "\(key).shape") }
        var shape: [Int] = []
        var count = 1
        for d in rawShape {
            guard let v = JSON.int(d), v >= 0, case let (p, false) = count.multipliedReportingOverflow(by: v) else {
                throw FormatError.invalid(file: file, field: "\(key).shape", value: "\(rawShape)", reason: "dimensions must be non-negative integers with a representable product")
            }
            shape.append(v)
            count = p
        }
        guard let offs = e["data_offsets"] as? [Any], offs.count == 2,
              let begin = JSON.int(offs[0]), let end = JSON.int(offs[1]), begin >= 0, end >= begin else {
            throw FormatError.invalid(file: file, field: "\(key).data_offsets", value: "\(e["data_offsets"] ?? "nil")",
                                      reason: "must be [begin, end] with 0 ≤ begin ≤ end")
        }
        guard case let (bytes, false) = count.multipliedReportingOverflow(by: dtype.size), bytes == end - begin else {
            throw FormatError.invalid(file: file, field: "\(key).data_offsets", value: "[\(begin), \(end)]",
                                      reason: "\(dtype) \(shape) needs \(count) × \(dtype.size) bytes")
        }
        return SafetensorsTensor(name: key, dtype: dtype, shape: shape, offset: begin, byteCount: bytes)
    }

    public func tensor(named name: String) -> SafetensorsTensor? { byName[name].map { tensors[$0] } }

    public func data(of t: SafetensorsTensor) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: file.base + dataOffset + t.offset, count: t.byteCount)
    }

    public func fileRange(of t: SafetensorsTensor) -> Range<Int> {
        (dataOffset + t.offset)..<(dataOffset + t.offset + t.byteCount)
    }
}

// MARK: - writer

public struct SafetensorsTensorSpec: Sendable {
    public let name: String
    public let dtype: SafetensorsDType
    public let shape: [Int]
    public var byteCount: Int { shape.reduce(1, *) * dtype.size }
    public init(name: String, dtype: SafetensorsDType, shape: [Int]) {
        self.name = name; self.dtype = dtype; self.shape = shape
    }
}

public enum SafetensorsWriter {
    /// The order the reference writer lays tensors out in: dtype descending (enum order), then name.
    public static func fileOrder(_ specs: [SafetensorsTensorSpec]) -> [Int] {
        specs.indices.sorted {
            let a = specs[$0], b = specs[$1]
            return a.dtype.order != b.dtype.order ? a.dtype.order > b.dtype.order : a.name < b.name
        }
    }

    /// Header bytes (JSON padded with spaces to a multiple of 8) for tensors already in file order.
    public static func header(_ ordered: [SafetensorsTensorSpec], metadata: [String: String]) -> [UInt8] {
        var fields: [(String, JSON)] = []
        if !metadata.isEmpty {
            fields.append(("__metadata__", .object(metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
        }
        var offset = 0
        for t in ordered {
            fields.append((t.name, .object([
                ("dtype", .string(t.dtype.name)),
                ("shape", .array(t.shape.map { .int($0) })),
                ("data_offsets", .array([.int(offset), .int(offset + t.byteCount)])),
            ])))
            offset += t.byteCount
        }
        var bytes = Array(JSON.object(fields).serialized().utf8)
        bytes += [UInt8](repeating: 0x20, count: (8 - bytes.count % 8) % 8)
        return bytes
    }

    /// Writes one safetensors file. `producer(i, sink)` writes `specs[i]`'s bytes; it is called in file
    /// order, which is not the order of `specs`.
    public static func write(to path: String, tensors specs: [SafetensorsTensorSpec], metadata: [String: String] = [:],
                             progress: (Int) -> Void = { _ in },
                             producer: (Int, TensorSink) throws -> Void) throws {
        var seen = Set<String>()
        for s in specs where !seen.insert(s.name).inserted || s.name == "__metadata__" {
            throw FormatError.invalid(file: path, field: "tensor name", value: s.name, reason: "duplicate or reserved name")
        }
        let order = fileOrder(specs)
        let header = header(order.map { specs[$0] }, metadata: metadata)
        let out = try AtomicOutput(path: path)
        do {
            try out.write(le: UInt64(header.count))
            try out.write(header)
            for i in order {
                let sink = TensorSink(out, expected: specs[i].byteCount)
                try producer(i, sink)
                guard sink.written == sink.expected else {
                    throw FormatError.invalid(file: path, field: "\(specs[i].name) data", value: String(sink.written),
                                              reason: "producer wrote \(sink.written) of \(sink.expected) bytes")
                }
                progress(i)
            }
            try out.commit()
        } catch {
            out.abort()
            throw error
        }
    }

    /// Splits tensors (in the given order) into shards of at most `maxShardBytes` each, as Hugging Face's
    /// `split_torch_state_dict_into_shards` does: a tensor that does not fit starts a new shard; a tensor
    /// larger than the limit gets a shard of its own.
    public static func shards(_ specs: [SafetensorsTensorSpec], maxShardBytes: Int) -> [[Int]] {
        var shards: [[Int]] = []
        var current: [Int] = []
        var size = 0
        for (i, s) in specs.enumerated() {
            if !current.isEmpty && size + s.byteCount > maxShardBytes {
                shards.append(current)
                current = []
                size = 0
            }
            current.append(i)
            size += s.byteCount
        }
        if !current.isEmpty || shards.isEmpty { shards.append(current) }
        return shards
    }

    /// Writes a Hugging Face checkpoint: `model.safetensors`, or `model-0000i-of-0000n.safetensors` shards
    /// plus `model.safetensors.index.json` when the tensors exceed `maxShardBytes`. Returns the file names.
    @discardableResult
    public static func writeCheckpoint(directory: String, tensors specs: [SafetensorsTensorSpec],
                                       metadata: [String: String] = ["format": "pt"], maxShardBytes: Int,
                                       progress: (Int) -> Void = { _ in },
                                       producer: (Int, TensorSink) throws -> Void) throws -> [String] {
        let groups = shards(specs, maxShardBytes: maxShardBytes)
        if groups.count == 1 {
            try write(to: directory + "/model.safetensors", tensors: specs, metadata: metadata,
                      progress: progress, producer: producer)
            try? FileManager.default.removeItem(atPath: directory + "/model.safetensors.index.json")
            return ["model.safetensors"]
        }
        var names: [String] = []
        var weightMap: [(String, JSON)] = []
        for (k, group) in groups.enumerated() {
            let fname = "model-\(String(k + 1).leftPadded(5))-of-\(String(groups.count).leftPadded(5)).safetensors"
            names.append(fname)
            try write(to: directory + "/" + fname, tensors: group.map { specs[$0] }, metadata: metadata,
                      progress: { progress(group[$0]) }, producer: { try producer(group[$0], $1) })
            weightMap += group.map { (specs[$0].name, JSON.string(fname)) }
        }
        weightMap.sort { $0.0 < $1.0 }
        let total = specs.reduce(0) { $0 + $1.byteCount }
        let index = JSON.object([
            ("metadata", .object([("total_size", .int(total))])),
            ("weight_map", .object(weightMap)),
        ])
        try AtomicOutput.write(Array((index.serialized(indent: 2) + "\n").utf8),
                               to: directory + "/model.safetensors.index.json")
        try? FileManager.default.removeItem(atPath: directory + "/model.safetensors")
        return names
    }
}
