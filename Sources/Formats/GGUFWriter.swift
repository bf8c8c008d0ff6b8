// GGUFWriter: writes a GGUF v3 file whose bytes are fixed by its inputs (metadata in the given order,
// tensor infos in the given order, each tensor's data padded to the alignment, as gguf-py writes).
// Tensor data is streamed: the producer is called once per tensor, in order, and pushes that
// tensor's bytes into a `TensorSink` in as many pieces as it likes, so a model is never held whole.
// The file goes to a temporary name and is renamed only when complete (see AtomicOutput).

public struct GGUFTensorSpec: Sendable {
    public let name: String
    public let type: GGMLType
    /// ggml order (ne0 first).
    public let dims: [Int]
    public let byteCount: Int

    public init(name: String, type: GGMLType, dims: [Int]) throws {
        guard name.utf8.count < 64 else {
            throw FormatError.invalid(file: "<gguf writer>", field: "tensor name", value: name,
                                      reason: "ggml names are at most 63 bytes")
        }
        guard dims.count <= 4, dims.allSatisfy({ $0 >= 0 }) else {
            throw FormatError.invalid(file: "<gguf writer>", field: "tensor[\(name)].dims", value: "\(dims)",
                                      reason: "1 to 4 non-negative dimensions")
        }
        let n = dims.reduce(1, *)
        guard let bytes = type.byteCount(elements: n), (dims.first ?? 1) % type.blockSize == 0 else {
            throw FormatError.invalid(file: "<gguf writer>", field: "tensor[\(name)].ne[0]",
                                      value: String(dims.first ?? 1),
                                      reason: "not a multiple of \(type.name)'s block size \(type.blockSize)")
        }
        self.name = name; self.type = type; self.dims = dims; self.byteCount = bytes
    }
}

/// Where a producer writes one tensor's bytes; the writer checks the total.
public final class TensorSink {
    let out: AtomicOutput
    public let expected: Int
    public private(set) var written = 0
    init(_ out: AtomicOutput, expected: Int) { self.out = out; self.expected = expected }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        precondition(written + bytes.count <= expected, "producer wrote more than the tensor's size")
        try out.write(bytes)
        written += bytes.count
    }

    public func write<T>(contentsOf a: [T]) throws { try a.withUnsafeBytes { try write($0) } }

    /// Up to `max` bytes of writable space in the output buffer; fill it, then `commit(count:)`.
    public func reserve(_ max: Int) throws -> UnsafeMutableRawBufferPointer {
        let n = Swift.min(max, expected - written, out.bufferCapacity)
        return try out.reserve(n)
    }

    public func commit(count n: Int) {
        precondition(written + n <= expected, "producer wrote more than the tensor's size")
        out.advance(by: n)
        written += n
    }

    public var remaining: Int { expected - written }
}

public struct GGUFWriter {
    public var metadata: GGUFMetadata
    public let tensors: [GGUFTensorSpec]
    public let alignment: Int

    public init(metadata: GGUFMetadata, tensors: [GGUFTensorSpec], alignment: Int = GGUFFile.defaultAlignment) throws {
        precondition(alignment > 0 && alignment & (alignment - 1) == 0, "alignment must be a power of two")
        var seen = Set<String>()
        for t in tensors where !seen.insert(t.name).inserted {
            throw FormatError.invalid(file: "<gguf writer>", field: "tensor name", value: t.name,
                                      reason: "duplicate tensor")
        }
        var md = metadata
        if alignment != GGUFFile.defaultAlignment {
            md["general.alignment"] = .uint32(UInt32(alignment))
        }
        self.metadata = md
        self.tensors = tensors
        self.alignment = alignment
    }

    /// Offsets of each tensor in the data section.
    public var offsets: [Int] {
        var o = 0
        return tensors.map { t in
            defer { o += pad(t.byteCount) }
            return o
        }
    }

    func pad(_ n: Int) -> Int { (n + alignment - 1) / alignment * alignment }

    /// Writes the file. `producer(i, sink)` must write exactly `tensors[i].byteCount` bytes.
    /// `progress(i)` is called after tensor i is complete.
    public func write(to path: String,
                      progress: (Int) -> Void = { _ in },
                      producer: (Int, TensorSink) throws -> Void) throws {
        let out = try AtomicOutput(path: path)
        do {
            try writeHeader(out)
            for (i, t) in tensors.enumerated() {
                let sink = TensorSink(out, expected: t.byteCount)
                try producer(i, sink)
                guard sink.written == t.byteCount else {
                    throw FormatError.invalid(file: path, field: "tensor[\(t.name)] data", value: String(sink.written),
                                              reason: "producer wrote \(sink.written) of \(t.byteCount) bytes")
                }
                try out.writeZeros(pad(t.byteCount) - t.byteCount)
                progress(i)
            }
            try out.commit()
        } catch {
            out.abort()
            throw error
        }
    }

    func writeHeader(_ out: AtomicOutput) throws {
        try out.write(le: GGUFFile.magic)
        try out.write(le: UInt32(3))
        try out.write(le: UInt64(tensors.count))
        try out.write(le: UInt64(metadata.count))
        for (k, v) in metadata {
            try GGUFWriter.writeString(out, k)
            try out.write(le: v.type.rawValue)
            try GGUFWriter.writeValue(out, v)
        }
        for (t, off) in zip(tensors, offsets) {
            try GGUFWriter.writeString(out, t.name)
            try out.write(le: UInt32(t.dims.count))
            for d in t.dims { try out.write(le: UInt64(d)) }
            try out.write(le: t.type.id)
            try out.write(le: UInt64(off))
        }
        try out.writeZeros(pad(out.position) - out.position)
    }

    static func writeString(_ out: AtomicOutput, _ s: String) throws {
        let b = Array(s.utf8)
        try out.write(le: UInt64(b.count))
        try out.write(b)
    }

    static func writeValue(_ out: AtomicOutput, _ v: GGUFValue) throws {
        switch v {
        case let .uint8(x): try out.write(le: x)
        case let .int8(x): try out.write(le: x)
        case let .uint16(x): try out.write(le: x)
        case let .int16(x): try out.write(le: x)
        case let .uint32(x): try out.write(le: x)
        case let .int32(x): try out.write(le: x)
        case let .uint64(x): try out.write(le: x)
        case let .int64(x): try out.write(le: x)
        case let .float32(x): try out.write(le: x.bitPattern)
        case let .float64(x): try out.write(le: x.bitPattern)
        case let .bool(x): try out.write(le: UInt8(x ? 1 : 0))
        case let .string(s): try writeString(out, s)
        case let .array(et, a):
            try out.write(le: et.rawValue)
            try out.write(le: UInt64(a.count))
            for e in a {
                precondition(e.type == et, "GGUF array element of type \(e.type) in an array of \(et)")
                try writeValue(out, e)
            }
        }
    }
}
