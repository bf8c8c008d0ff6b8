// PreTokenization: the public face of the byte-level BPE building blocks that training a tokenizer needs
// (Finetune's BPETrainer): the word split of a named pre-tokenizer (`tokenizer.ggml.pre`, llama.cpp's
// regexes as PreTokenizer implements them) and GPT-2's byte ↔ Unicode map. Training and encoding share
// this code, so a trained vocabulary sees exactly the words the tokenizer will later merge within.

public enum PreTokenization {
    /// Byte ranges of the words of `bytes` (UTF-8; malformed bytes read as U+FFFD of length 1) under the
    /// pre-tokenizer `pre` (e.g. "gpt-2"), in order and covering the whole text.
    public static func words(_ bytes: UnsafeBufferPointer<UInt8>, pre: String) throws -> [Range<Int>] {
        guard let (p, _, _) = PreTokenizer.named(pre) else {
            throw InferError.tokenizer("unknown pre-tokenizer type '\(pre)'; supported: \(PreTokenizer.supportedNames)")
        }
        return ranges(bytes, p)
    }

    /// Byte ranges of the words of `text` under `pre` (what byte-level BPE merges within).
    static func ranges(_ text: UnsafeBufferPointer<UInt8>, _ pre: PreTokenizer) -> [Range<Int>] {
        var cps: [UInt32] = []
        var starts: [Int] = []
        cps.reserveCapacity(text.count)
        starts.reserveCapacity(text.count + 1)
        var i = 0
        while i < text.count {
            let (cp, len) = decodeUTF8(text, i)
            cps.append(cp)
            starts.append(i)
            i += len
        }
        starts.append(text.count)
        let flags = cps.map { UnicodeFlags.of($0) }
        let lens = cps.withUnsafeBufferPointer { c in flags.withUnsafeBufferPointer { f in pre.split(c, f) } }
        var out: [Range<Int>] = []
        out.reserveCapacity(lens.count)
        var cp0 = 0
        for len in lens {
            out.append(starts[cp0]..<starts[cp0 + len])
            cp0 += len
        }
        return out
    }

    /// The code point GPT-2's byte-level spelling uses for each byte (0x21–0x7E, 0xA1–0xAC, 0xAE–0xFF as
    /// themselves, the other 68 bytes U+0100… in byte order).
    public static var scalarOfByte: [UInt32] { ByteLevel.scalarOfByte }
}
