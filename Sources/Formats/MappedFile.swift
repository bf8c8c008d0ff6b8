// MappedFile: a whole file mapped read-only into memory. Readers parse headers straight out of the map
// and hand out tensor views that point into it, so a 16 GB model costs address space, not RAM.
// Pages already consumed can be given back with `release(_:)`, which keeps the resident set small
// while streaming a large file front to back (a conversion, a checksum).

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

public final class MappedFile: @unchecked Sendable {
    /// Display name used in error messages (the path as given).
    public let path: String
    /// Start of the mapping; valid for `count` bytes while this object lives.
    public let base: UnsafeRawPointer
    public let count: Int
    private let owned: Ownership

    private enum Ownership { case mapped, heap, none }

    /// Maps `path` read-only. Throws `FormatError.io` if it cannot be opened, is not a regular file, or
    /// cannot be mapped.
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        if fd < 0 { throw FormatError.io(path: path, operation: "open", message: MappedFile.errnoText()) }
        defer { close(fd) }
        var st = stat()
        if fstat(fd, &st) != 0 {
            throw FormatError.io(path: path, operation: "stat", message: MappedFile.errnoText())
        }
        if (st.st_mode & S_IFMT) != S_IFREG {
            throw FormatError.io(path: path, operation: "open", message: "not a regular file")
        }
        let size = Int(st.st_size)
        if size == 0 {
            // mmap refuses length 0; an empty file maps to an empty view.
            self.base = UnsafeRawPointer(UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 16))
            self.count = 0
            self.owned = .heap
            return
        }
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        if p == MAP_FAILED || p == nil {
            throw FormatError.io(path: path, operation: "mmap", message: MappedFile.errnoText())
        }
        self.base = UnsafeRawPointer(p!)
        self.count = size
        self.owned = .mapped
    }

    /// An in-memory copy presented as a mapped file (tests, fuzzing, small generated files).
    public init(copying bytes: some Collection<UInt8>, name: String) {
        let n = bytes.count
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(n, 1), alignment: 64)
        _ = UnsafeMutableRawBufferPointer(start: p, count: n).initializeMemory(as: UInt8.self, from: bytes)
        self.path = name
        self.base = UnsafeRawPointer(p)
        self.count = n
        self.owned = .heap
    }

    /// Borrowed memory presented as a mapped file; the caller keeps it alive and unchanged while in use.
    public init(borrowing bytes: UnsafeRawBufferPointer, name: String) {
        self.path = name
        self.base = bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 64)!
        self.count = bytes.count
        self.owned = .none
    }

    deinit {
        switch owned {
        case .mapped: munmap(UnsafeMutableRawPointer(mutating: base), count)
        case .heap: UnsafeMutableRawPointer(mutating: base).deallocate()
        case .none: break
        }
    }

    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// Tells the kernel a range will be read front to back soon (read-ahead). Advisory only.
    public func adviseSequential(_ range: Range<Int>) {
        guard owned == .mapped, let r = pageRange(range) else { return }
        _ = madvise(UnsafeMutableRawPointer(mutating: base + r.lowerBound), r.count, MappedFile.sequential)
    }

    /// Drops the resident pages of a range we are done with. The data stays in the page cache and
    /// the mapping stays valid (a later read faults the pages back in); only our RSS shrinks.
    public func release(_ range: Range<Int>) {
        guard owned == .mapped, let r = pageRange(range) else { return }
        _ = madvise(UnsafeMutableRawPointer(mutating: base + r.lowerBound), r.count, MappedFile.dontNeed)
    }

    /// The whole pages inside `range` (page-aligned start rounded up, end rounded down).
    private func pageRange(_ range: Range<Int>) -> Range<Int>? {
        let page = MappedFile.pageSize
        let lo = (max(range.lowerBound, 0) + page - 1) / page * page
        let hi = min(range.upperBound, count) / page * page
        return lo < hi ? lo..<hi : nil
    }

    private static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
    #if canImport(Darwin)
    private static let dontNeed = MADV_DONTNEED
    private static let sequential = MADV_SEQUENTIAL
    #else
    private static let dontNeed = Int32(MADV_DONTNEED)
    private static let sequential = Int32(MADV_SEQUENTIAL)
    #endif

    static func errnoText() -> String { String(cString: strerror(errno)) }
}
