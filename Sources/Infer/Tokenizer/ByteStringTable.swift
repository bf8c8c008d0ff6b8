// ByteStringTable: an insert-only hash table from byte strings to small integers, looked up by a pointer
// and a length without building a String or an Array — the tokenizers' hot path (is this word a token? what
// id does this merged pair have?). Keys are compared byte for byte, not as Swift Strings (which compare by
// canonical equivalence: "é" and "e\u{301}" are equal Strings but different tokens).

struct ByteStringTable: Sendable {
    private var bytes: [UInt8] = []          // all keys, back to back
    private var starts: [Int] = [0]          // key i is bytes[starts[i] ..< starts[i+1]]
    private var values: [Int32] = []
    private var slots: [Int32]               // entry index + 1, 0 = empty; count is a power of two
    private var mask: Int
    private var shift: UInt64                // 64 - log2(slots.count): the slot is the hash's top bits

    init(capacity: Int = 16) {
        var n = 16
        while n < capacity * 2 { n <<= 1 }
        slots = [Int32](repeating: 0, count: n)
        mask = n - 1
        shift = UInt64(64 - n.trailingZeroBitCount)
    }

    var count: Int { values.count }

    @inline(__always)
    static func hash(_ p: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a
        for b in p { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        return (h ^ (h >> 32)) &* 0x9E37_79B9_7F4A_7C15  // spread into the top bits
    }

    /// The value stored for `key`, or nil.
    @inline(__always)
    func lookup(_ key: UnsafeRawBufferPointer) -> Int32? {
        var i = Int(truncatingIfNeeded: ByteStringTable.hash(key) >> shift)
        return slots.withUnsafeBufferPointer { sl in
            bytes.withUnsafeBufferPointer { by in
                starts.withUnsafeBufferPointer { st in
                    while true {
                        let e = Int(sl[i])
                        if e == 0 { return nil }
                        let s = st[e - 1], n = st[e] - s
                        if n == key.count && (n == 0 || memeq(by.baseAddress! + s, key.baseAddress!, n)) {
                            return values[e - 1]
                        }
                        i = (i + 1) & mask
                    }
                }
            }
        }
    }

    func lookup(_ key: [UInt8]) -> Int32? { key.withUnsafeBytes { lookup($0) } }

    /// Inserts `key → value` unless `key` is present; returns the value now stored.
    @discardableResult
    mutating func insert(_ key: [UInt8], _ value: Int32) -> Int32 {
        if let v = lookup(key) { return v }
        if (values.count + 1) * 2 > slots.count { grow() }
        bytes += key
        starts.append(bytes.count)
        values.append(value)
        place(values.count - 1, hash: key.withUnsafeBytes { ByteStringTable.hash($0) })
        return value
    }

    private mutating func place(_ entry: Int, hash: UInt64) {
        var i = Int(truncatingIfNeeded: hash >> shift)
        while slots[i] != 0 { i = (i + 1) & mask }
        slots[i] = Int32(entry + 1)
    }

    private mutating func grow() {
        let n = slots.count * 2
        slots = [Int32](repeating: 0, count: n)
        mask = n - 1
        shift = UInt64(64 - n.trailingZeroBitCount)
        for e in 0..<values.count {
            let h = bytes.withUnsafeBytes { ByteStringTable.hash(UnsafeRawBufferPointer(rebasing: $0[starts[e]..<starts[e + 1]])) }
            place(e, hash: h)
        }
    }
}

@inline(__always)
private func memeq(_ a: UnsafePointer<UInt8>, _ b: UnsafeRawPointer, _ n: Int) -> Bool {
    let b = b.assumingMemoryBound(to: UInt8.self)
    for i in 0..<n where a[i] != b[i] { return false }
    return true
}
