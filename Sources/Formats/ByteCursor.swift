// ByteCursor: a bounded little-endian reader over untrusted bytes. Every read checks the bytes left
// first and throws `FormatError.truncated` naming the field, so a parser built on it cannot read past
// the end of its buffer whatever the header claims.

struct ByteCursor {
    let base: UnsafeRawPointer
    let count: Int
    let file: String
    var offset: Int

    init(_ file: MappedFile, offset: Int = 0) {
        self.base = file.base
        self.count = file.count
        self.file = file.path
        self.offset = offset
    }

    var remaining: Int { count - offset }

    @inline(__always)
    mutating func need(_ n: Int, _ field: @autoclosure () -> String) throws {
        if n < 0 || n > count - offset {
            throw FormatError.truncated(file: file, field: field(), offset: offset, need: n, available: count)
        }
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ field: @autoclosure () -> String) throws -> T {
        try need(MemoryLayout<T>.size, field())
        let v = T(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: T.self))
        offset += MemoryLayout<T>.size
        return v
    }

    mutating func u8(_ field: @autoclosure () -> String) throws -> UInt8 { try read(UInt8.self, field()) }
    mutating func u32(_ field: @autoclosure () -> String) throws -> UInt32 { try read(UInt32.self, field()) }
    mutating func u64(_ field: @autoclosure () -> String) throws -> UInt64 { try read(UInt64.self, field()) }

    /// A u64 that is used as a count or size: must fit in Int (anything larger is certainly absurd).
    mutating func size(_ field: @autoclosure () -> String) throws -> Int {
        let start = offset
        let v = try u64(field())
        guard v <= UInt64(Int.max) else {
            throw FormatError.invalid(file: file, field: field(), value: String(v),
                                      reason: "larger than any file (at offset \(start))")
        }
        return Int(v)
    }

    /// The raw bytes of a length-prefixed field, without copying.
    mutating func bytes(_ n: Int, _ field: @autoclosure () -> String) throws -> UnsafeRawBufferPointer {
        try need(n, field())
        let b = UnsafeRawBufferPointer(start: base + offset, count: n)
        offset += n
        return b
    }

    /// GGUF string: u64 length then that many UTF-8 bytes (no terminator). Invalid UTF-8 is an error.
    mutating func string(_ field: @autoclosure () -> String) throws -> String {
        let start = offset
        let n = try size("\(field()) length")
        let b = try bytes(n, field())
        guard let s = String(validating: b, as: UTF8.self) else {
            throw FormatError.invalid(file: file, field: field(), value: "<\(n) bytes at \(start + 8)>",
                                      reason: "not valid UTF-8")
        }
        return s
    }
}
