// UnicodeTables: the per-code-point flags the pre-tokenizers test — the \p{…} category of a code point
// (letter, number, punctuation, symbol, mark, separator, control, unassigned) and whether it is white
// space — with the same meaning as llama.cpp's `unicode_cpt_flags` (general category groups; white space =
// the Unicode White_Space property). The data comes from Swift's `Unicode.Scalar.Properties`; the Basic
// Multilingual Plane is tabulated once (64 Ki entries, a few ms), other planes are looked up directly.
// Not here: case mapping (only the ASCII letters of contractions need it) or normalization.

enum UnicodeFlags {
    static let undefined: UInt16 = 0x0001    // Cn
    static let number: UInt16 = 0x0002       // \p{N}
    static let letter: UInt16 = 0x0004       // \p{L}
    static let separator: UInt16 = 0x0008    // \p{Z}
    static let mark: UInt16 = 0x0010         // \p{M}
    static let punctuation: UInt16 = 0x0020  // \p{P}
    static let symbol: UInt16 = 0x0040       // \p{S}
    static let control: UInt16 = 0x0080      // \p{C} other than Cn
    static let whitespace: UInt16 = 0x0100   // \s (White_Space)

    /// Flags of code point `cp`; 0 only for "no code point" (positions outside a segment use 0 too).
    @inline(__always)
    static func of(_ cp: UInt32) -> UInt16 {
        if cp < 0x10000 { return bmp[Int(cp)] }
        return compute(cp)
    }

    static let bmp: [UInt16] = (0..<0x10000).map { compute(UInt32($0)) }

    static func compute(_ cp: UInt32) -> UInt16 {
        // Surrogates are not scalars; llama.cpp files them under control (Cs).
        guard let s = Unicode.Scalar(cp) else { return cp < 0x110000 ? control : undefined }
        let p = s.properties
        var f: UInt16
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: f = letter
        case .decimalNumber, .letterNumber, .otherNumber: f = number
        case .nonspacingMark, .spacingMark, .enclosingMark: f = mark
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation: f = punctuation
        case .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol: f = symbol
        case .spaceSeparator, .lineSeparator, .paragraphSeparator: f = separator
        case .control, .format, .privateUse, .surrogate: f = control
        case .unassigned: f = undefined
        @unknown default: f = undefined
        }
        if p.isWhitespace { f |= whitespace }
        return f
    }
}
