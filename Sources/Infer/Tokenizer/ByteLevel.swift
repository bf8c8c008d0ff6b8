// ByteLevel: GPT-2's byte ↔ Unicode mapping (`bytes_to_unicode` in openai/gpt-2 encoder.py). Byte-level BPE
// vocabularies spell every byte as one printable code point: 0x21–0x7E, 0xA1–0xAC and 0xAE–0xFF stand for
// themselves, the other 68 bytes map to U+0100… in increasing byte order (space → U+0120 'Ġ', '\n' → U+010A 'Ċ').

enum ByteLevel {
    /// Code point standing for each byte.
    static let scalarOfByte: [UInt32] = {
        var map = [UInt32](repeating: 0, count: 256)
        var n: UInt32 = 0
        for b in 0..<256 {
            if (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b) {
                map[b] = UInt32(b)
            } else {
                map[b] = 256 + n
                n += 1
            }
        }
        return map
    }()

    /// Byte for each code point below 0x144 that stands for one (-1 for the others).
    static let byteOfScalar: [Int16] = {
        var inv = [Int16](repeating: -1, count: 0x144)
        for (b, s) in scalarOfByte.enumerated() { inv[Int(s)] = Int16(b) }
        return inv
    }()

    /// The bytes a byte-level token text spells, or nil if a character of it stands for no byte.
    static func decode(_ text: [UInt8]) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(text.count)
        for s in String(decoding: text, as: UTF8.self).unicodeScalars {
            guard s.value < 0x144, byteOfScalar[Int(s.value)] >= 0 else { return nil }
            out.append(UInt8(byteOfScalar[Int(s.value)]))
        }
        return out
    }

    /// The byte-level spelling of `bytes` (UTF-8 of the mapped code points).
    static func encode(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        for b in bytes { out += Array(String(Character(Unicode.Scalar(scalarOfByte[Int(b)])!)).utf8) }
        return out
    }
}
