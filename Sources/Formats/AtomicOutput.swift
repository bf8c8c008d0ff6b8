// AtomicOutput: a buffered file writer that writes to a temporary file beside the destination and
// only on `commit()` fsyncs it and renames it into place. A failure, a thrown error or a killed process
// never leaves a partial file under the destination name (at worst a `.NAME.tmp-*` file beside it).

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

public final class AtomicOutput {
    public let path: String
    public let tempPath: String
    private var fd: Int32
    private var buffer: UnsafeMutableRawPointer
    private let capacity: Int
    private var used = 0
    /// Bytes written so far (buffered or not).
    public private(set) var position = 0

    public init(path: String, bufferSize: Int = 8 << 20) throws {
        self.path = path
        let (dir, base) = AtomicOutput.split(path)
        var tmpl = Array("\(dir)/.\(base).tmp-XXXXXX".utf8CString)
        let fd = tmpl.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        if fd < 0 {
            throw FormatError.io(path: path, operation: "create temporary file", message: MappedFile.errnoText())
        }
        self.fd = fd
        self.tempPath = tmpl.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        _ = fchmod(fd, 0o644)
        self.capacity = bufferSize
        self.buffer = UnsafeMutableRawPointer.allocate(byteCount: bufferSize, alignment: 64)
    }

    deinit {
        buffer.deallocate()
        if fd >= 0 {  // neither committed nor aborted: an error path; remove the temp file
            close(fd)
            unlink(tempPath)
        }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0 else { return }
        if used + bytes.count <= capacity {
            (buffer + used).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            used += bytes.count
        } else {
            try flush()
            if bytes.count >= capacity {
                try writeAll(bytes)
            } else {
                buffer.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
                used = bytes.count
            }
        }
        position += bytes.count
    }

    public func write(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try write($0) } }

    public func write<T: FixedWidthInteger>(le v: T) throws {
        try withUnsafeBytes(of: v.littleEndian) { try write($0) }
    }

    public func writeZeros(_ n: Int) throws {
        if n > 0 { try write([UInt8](repeating: 0, count: n)) }
    }

    /// Space in the output buffer to fill in place (saves a copy for converters); call `advance(by:)`.
    public func reserve(_ n: Int) throws -> UnsafeMutableRawBufferPointer {
        precondition(n <= capacity, "reserve larger than the buffer")
        if used + n > capacity { try flush() }
        return UnsafeMutableRawBufferPointer(start: buffer + used, count: n)
    }

    public func advance(by n: Int) {
        precondition(used + n <= capacity)
        used += n
        position += n
    }

    public var bufferCapacity: Int { capacity }

    public func flush() throws {
        if used > 0 {
            try writeAll(UnsafeRawBufferPointer(start: buffer, count: used))
            used = 0
        }
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        var p = bytes.baseAddress!
        var left = bytes.count
        while left > 0 {
            let n = sysWrite(fd, p, left)
            if n < 0 {
                if errno == EINTR { continue }
                throw FormatError.io(path: path, operation: "write", message: MappedFile.errnoText())
            }
            p += n
            left -= n
        }
    }

    /// Flushes, fsyncs and renames the temporary file to `path`.
    public func commit() throws {
        try flush()
        if fsync(fd) != 0 {
            throw FormatError.io(path: path, operation: "fsync", message: MappedFile.errnoText())
        }
        close(fd)
        fd = -1
        if rename(tempPath, path) != 0 {
            let msg = MappedFile.errnoText()
            unlink(tempPath)
            throw FormatError.io(path: path, operation: "rename", message: msg)
        }
        let (dir, _) = AtomicOutput.split(path)
        let dfd = open(dir, O_RDONLY)
        if dfd >= 0 { _ = fsync(dfd); close(dfd) }
    }

    /// Discards the temporary file.
    public func abort() {
        if fd >= 0 { close(fd); fd = -1 }
        unlink(tempPath)
    }

    /// Writes a whole small file atomically.
    public static func write(_ bytes: [UInt8], to path: String) throws {
        let out = try AtomicOutput(path: path, bufferSize: max(bytes.count, 4096))
        try out.write(bytes)
        try out.commit()
    }

    static func split(_ path: String) -> (dir: String, base: String) {
        if let slash = path.lastIndex(of: "/") {
            let dir = String(path[..<slash])
            return (dir.isEmpty ? "/" : dir, String(path[path.index(after: slash)...]))
        }
        return (".", path)
    }
}

@inline(__always)
private func sysWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int {
    #if canImport(Darwin)
    return Darwin.write(fd, p, n)
    #elseif canImport(Musl)
    return Musl.write(fd, p, n)
    #else
    return Glibc.write(fd, p, n)
    #endif
}
