// GGUFFile: a GGUF (v2 or v3) file read in place from a memory map. The header, metadata and tensor
// infos are parsed and validated up front; tensor data is never copied: `data(of:)` is a view into the
// map. Layout (little-endian; see ggml's docs/gguf.md):
//
//   u32 magic "GGUF" | u32 version | u64 n_tensors | u64 n_kv
//   n_kv × { string key | u32 value_type | value }          string = u64 len + UTF-8 bytes
//   n_tensors × { string name | u32 n_dims | u64 ne[n_dims] | u32 ggml_type | u64 offset }
//   zero padding to `general.alignment` (default 32)
//   tensor data: each tensor at data_start + offset, offsets aligned
//
// Shapes here are in ggml order: dims[0] (ne0) is the contiguous axis, the reverse of numpy's.
// Every count, length and offset is checked against the bytes left before it is used.

public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    public let type: GGMLType
    /// ggml order: dims[0] = ne0, the fastest-varying axis.
    public let dims: [Int]
    /// Offset from the start of the data section.
    public let offset: Int
    public let elementCount: Int
    public let byteCount: Int

    /// Shape in numpy / PyTorch order (dims reversed).
    public var shape: [Int] { dims.reversed() }
    /// Elements per row (ne0) and number of rows (product of the other dims).
    public var rowLength: Int { dims.first ?? 1 }
    public var rowCount: Int { dims.count <= 1 ? 1 : dims.dropFirst().reduce(1, *) }

    /// A tensor description not (yet) in a file: offset 0, sizes derived. Nil if the shape does not fit the type.
    public init?(name: String, type: GGMLType, dims: [Int]) {
        let n = dims.reduce(1, *)
        guard dims.allSatisfy({ $0 >= 0 }), (dims.first ?? 1) % type.blockSize == 0, let bytes = type.byteCount(elements: n) else { return nil }
        self.init(name: name, type: type, dims: dims, offset: 0, elementCount: n, byteCount: bytes)
    }

    init(name: String, type: GGMLType, dims: [Int], offset: Int, elementCount: Int, byteCount: Int) {
        self.name = name; self.type = type; self.dims = dims; self.offset = offset
        self.elementCount = elementCount; self.byteCount = byteCount
    }
}

public final class GGUFFile: @unchecked Sendable {
    public static let magic: UInt32 = 0x4655_4747  // "GGUF" read as little-endian u32
    public static let defaultAlignment = 32
    /// Arrays nested deeper than this are rejected (real files nest at most once).
    static let maxArrayDepth = 8

    public let file: MappedFile
    public let version: UInt32
    public let metadata: GGUFMetadata
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    /// Absolute file offset of the tensor data section.
    public let dataOffset: Int
    private let byName: [String: Int]

    public var path: String { file.path }

    public convenience init(path: String) throws {
        try self.init(try MappedFile(path: path))
    }

    public init(_ file: MappedFile) throws {
        self.file = file
        var c = ByteCursor(file)
        let name = file.path

        let magic = try c.u32("magic")
        guard magic == GGUFFile.magic else {
            throw FormatError.badMagic(file: name, found: GGUFFile.describeMagic(magic))
        }
        let version = try c.u32("version")
        guard version == 2 || version == 3 else {
            if version.byteSwapped == 2 || version.byteSwapped == 3 {
                throw FormatError.unsupported(file: name, what: "big-endian GGUF (version \(version.byteSwapped))")
            }
            throw FormatError.unsupportedVersion(file: name, version: UInt64(version))
        }
        self.version = version
        let nTensors = try c.size("tensor_count")
        let nKV = try c.size("metadata_kv_count")
        // Each KV takes at least 8 (key length) + 4 (type) + 1 bytes; each tensor info at least 24.
        guard nKV <= c.remaining / 13 else {
            throw FormatError.invalid(file: name, field: "metadata_kv_count", value: String(nKV),
                                      reason: "more entries than the file could hold")
        }

        var md = GGUFMetadata()
        for i in 0..<nKV {
            let key = try c.string("metadata[\(i)].key")
            let rawType = try c.u32("metadata[\(key)].type")
            guard let t = GGUFValueType(rawValue: rawType) else {
                throw FormatError.invalid(file: name, field: "metadata[\(key)].type", value: String(rawType),
                                          reason: "unknown GGUF value type")
            }
            let v = try GGUFFile.readValue(&c, t, field: key, depth: 0)
            guard md.appendNew(key, v) else {
                throw FormatError.invalid(file: name, field: "metadata key", value: key, reason: "duplicate key")
            }
        }
        self.metadata = md

        var alignment = GGUFFile.defaultAlignment
        if let a = md["general.alignment"] {
            guard case let .uint32(v) = a, v > 0, v & (v - 1) == 0 else {
                throw FormatError.invalid(file: name, field: "general.alignment", value: "\(a)",
                                          reason: "must be a uint32 power of two")
            }
            alignment = Int(v)
        }
        self.alignment = alignment

        guard nTensors <= c.remaining / 24 else {
            throw FormatError.invalid(file: name, field: "tensor_count", value: String(nTensors),
                                      reason: "more tensor infos than the file could hold")
        }
        var infos: [GGUFTensorInfo] = []
        infos.reserveCapacity(nTensors)
        var byName: [String: Int] = [:]
        for i in 0..<nTensors {
            let tname = try c.string("tensor[\(i)].name")
            let field = "tensor[\(tname)]"
            let nDims = try c.u32("\(field).n_dims")
            guard nDims <= 4 else {
                throw FormatError.invalid(file: name, field: "\(field).n_dims", value: String(nDims),
                                          reason: "ggml tensors have at most 4 dimensions")
            }
            var dims: [Int] = []
            var elements = 1
            for d in 0..<Int(nDims) {
                let ne = try c.u64("\(field).ne[\(d)]")
                guard ne <= UInt64(Int.max), case let (p, false) = elements.multipliedReportingOverflow(by: Int(ne))
                else {
                    throw FormatError.invalid(file: name, field: "\(field).ne[\(d)]", value: String(ne),
                                              reason: "element count overflows")
                }
                dims.append(Int(ne))
                elements = p
            }
            let typeID = try c.u32("\(field).type")
            guard let type = GGMLType(id: typeID) else {
                throw FormatError.invalid(file: name, field: "\(field).type", value: String(typeID),
                                          reason: "not a ggml type")
            }
            if let ne0 = dims.first, ne0 % type.blockSize != 0 {
                throw FormatError.invalid(file: name, field: "\(field).ne[0]", value: String(ne0),
                                          reason: "not a multiple of \(type.name)'s block size \(type.blockSize)")
            }
            guard let bytes = type.byteCount(elements: elements) else {
                throw FormatError.invalid(file: name, field: "\(field) size", value: String(elements),
                                          reason: "byte size overflows")
            }
            let offset = try c.size("\(field).offset")
            guard offset % alignment == 0 else {
                throw FormatError.invalid(file: name, field: "\(field).offset", value: String(offset),
                                          reason: "not aligned to \(alignment)")
            }
            guard byName[tname] == nil else {
                throw FormatError.invalid(file: name, field: "tensor name", value: tname, reason: "duplicate tensor")
            }
            byName[tname] = infos.count
            infos.append(GGUFTensorInfo(name: tname, type: type, dims: dims, offset: offset,
                                        elementCount: elements, byteCount: bytes))
        }

        let headerEnd = c.offset
        let dataOffset = (headerEnd + alignment - 1) / alignment * alignment
        self.dataOffset = dataOffset
        let dataSize = file.count - dataOffset
        if !infos.isEmpty && dataSize < 0 {
            throw FormatError.truncated(file: name, field: "tensor data", offset: dataOffset, need: 0,
                                        available: file.count)
        }
        // Every tensor inside the data section, and no two overlapping.
        for t in infos where t.byteCount > dataSize - t.offset {
            throw FormatError.truncated(file: name, field: "tensor[\(t.name)] data", offset: dataOffset + t.offset,
                                        need: t.byteCount, available: file.count)
        }
        let sorted = infos.sorted { $0.offset < $1.offset }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.offset + a.byteCount > b.offset {
            throw FormatError.invalid(file: name, field: "tensor[\(b.name)].offset", value: String(b.offset),
                                      reason: "overlaps tensor \(a.name) (\(a.offset)..<\(a.offset + a.byteCount))")
        }
        self.tensors = infos
        self.byName = byName
    }

    public func tensor(named name: String) -> GGUFTensorInfo? { byName[name].map { tensors[$0] } }

    /// The tensor's bytes, in place in the map (valid while this file lives).
    public func data(of t: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: file.base + dataOffset + t.offset, count: t.byteCount)
    }

    /// Byte range of a tensor in the file (for `MappedFile.release`).
    public func fileRange(of t: GGUFTensorInfo) -> Range<Int> {
        (dataOffset + t.offset)..<(dataOffset + t.offset + t.byteCount)
    }

    // MARK: - values

    static func readValue(_ c: inout ByteCursor, _ t: GGUFValueType, field: String, depth: Int) throws -> GGUFValue {
        switch t {
        case .uint8: return .uint8(try c.u8(field))
        case .int8: return .int8(Int8(bitPattern: try c.u8(field)))
        case .uint16: return .uint16(try c.read(UInt16.self, field))
        case .int16: return .int16(try c.read(Int16.self, field))
        case .uint32: return .uint32(try c.u32(field))
        case .int32: return .int32(try c.read(Int32.self, field))
        case .uint64: return .uint64(try c.u64(field))
        case .int64: return .int64(try c.read(Int64.self, field))
        case .float32: return .float32(Float(bitPattern: try c.u32(field)))
        case .float64: return .float64(Double(bitPattern: try c.u64(field)))
        case .bool:
            let at = c.offset
            let b = try c.u8(field)
            guard b <= 1 else {
                throw FormatError.invalid(file: c.file, field: field, value: String(b),
                                          reason: "bool must be 0 or 1 (at offset \(at))")
            }
            return .bool(b == 1)
        case .string: return .string(try c.string(field))
        case .array:
            guard depth < maxArrayDepth else {
                throw FormatError.invalid(file: c.file, field: field, value: "depth \(depth + 1)",
                                          reason: "arrays nested too deeply")
            }
            let rawType = try c.u32("\(field).element_type")
            guard let et = GGUFValueType(rawValue: rawType) else {
                throw FormatError.invalid(file: c.file, field: "\(field).element_type", value: String(rawType),
                                          reason: "unknown GGUF value type")
            }
            let n = try c.size("\(field).count")
            guard n <= c.remaining / et.minimumSize else {
                throw FormatError.invalid(file: c.file, field: "\(field).count", value: String(n),
                                          reason: "more \(et) elements than the \(c.remaining) bytes left could hold")
            }
            var out: [GGUFValue] = []
            out.reserveCapacity(n)
            for i in 0..<n {
                out.append(try readValue(&c, et, field: et == .array ? "\(field)[\(i)]" : field, depth: depth + 1))
            }
            return .array(et, out)
        }
    }

    static func describeMagic(_ m: UInt32) -> String {
        let bytes = withUnsafeBytes(of: m.littleEndian) { Array($0) }
        let printable = bytes.allSatisfy { $0 >= 0x20 && $0 < 0x7f }
        let hex = bytes.map { String($0, radix: 16).leftPadded(2) }.joined(separator: " ")
        return printable ? "\"\(String(decoding: bytes, as: UTF8.self))\" (\(hex))" : hex
    }
}

extension String {
    /// The string right-aligned in `n` characters (zero-padded by default, as hex bytes and shard numbers are).
    public func leftPadded(_ n: Int, with pad: Character = "0") -> String {
        count >= n ? self : String(repeating: pad, count: n - count) + self
    }
}
