// GGMLType: every tensor type ggml defines, with its block size (elements per block) and bytes per
// block, so that any real GGUF can be listed and sized even where llmkit cannot compute with the type.
// Ids and sizes follow ggml's `ggml.h` / `ggml-common.h` (type traits table). Ids 4, 5 (Q4_2, Q4_3)
// and 31–33, 36–38 (the removed repacked Q4_0_x_y / IQ4_NL_x_y layouts) are retired and rejected.

public struct GGMLType: Hashable, Sendable, CustomStringConvertible {
    public let id: UInt32
    public let name: String
    /// Elements per block (1 for plain scalar types).
    public let blockSize: Int
    /// Bytes per block.
    public let typeSize: Int
    /// True for the block-quantized types.
    public var isQuantized: Bool { blockSize > 1 }
    public var description: String { name }

    /// Bits per weight of this type alone (e.g. 4.5 for Q4_0).
    public var bitsPerWeight: Double { Double(typeSize * 8) / Double(blockSize) }

    /// Bytes for `elements` elements; nil when not a whole number of blocks or on overflow.
    public func byteCount(elements: Int) -> Int? {
        guard elements >= 0, elements % blockSize == 0 else { return nil }
        let (r, o) = (elements / blockSize).multipliedReportingOverflow(by: typeSize)
        return o ? nil : r
    }

    public static func == (a: GGMLType, b: GGMLType) -> Bool { a.id == b.id }
    public func hash(into h: inout Hasher) { h.combine(id) }

    private init(_ id: UInt32, _ name: String, _ blockSize: Int, _ typeSize: Int) {
        self.id = id; self.name = name; self.blockSize = blockSize; self.typeSize = typeSize
    }

    public static let f32 = GGMLType(0, "F32", 1, 4)
    public static let f16 = GGMLType(1, "F16", 1, 2)
    public static let q4_0 = GGMLType(2, "Q4_0", 32, 18)      // half d; u8 qs[16]
    public static let q4_1 = GGMLType(3, "Q4_1", 32, 20)      // half d, m; u8 qs[16]
    public static let q5_0 = GGMLType(6, "Q5_0", 32, 22)      // half d; u8 qh[4]; u8 qs[16]
    public static let q5_1 = GGMLType(7, "Q5_1", 32, 24)      // half d, m; u8 qh[4]; u8 qs[16]
    public static let q8_0 = GGMLType(8, "Q8_0", 32, 34)      // half d; i8 qs[32]
    public static let q8_1 = GGMLType(9, "Q8_1", 32, 36)      // half d, s; i8 qs[32]
    public static let q2_K = GGMLType(10, "Q2_K", 256, 84)
    public static let q3_K = GGMLType(11, "Q3_K", 256, 110)
    public static let q4_K = GGMLType(12, "Q4_K", 256, 144)
    public static let q5_K = GGMLType(13, "Q5_K", 256, 176)
    public static let q6_K = GGMLType(14, "Q6_K", 256, 210)
    public static let q8_K = GGMLType(15, "Q8_K", 256, 292)   // float d; i8 qs[256]; i16 bsums[16]
    public static let iq2_xxs = GGMLType(16, "IQ2_XXS", 256, 66)
    public static let iq2_xs = GGMLType(17, "IQ2_XS", 256, 74)
    public static let iq3_xxs = GGMLType(18, "IQ3_XXS", 256, 98)
    public static let iq1_s = GGMLType(19, "IQ1_S", 256, 50)
    public static let iq4_nl = GGMLType(20, "IQ4_NL", 32, 18)
    public static let iq3_s = GGMLType(21, "IQ3_S", 256, 110)
    public static let iq2_s = GGMLType(22, "IQ2_S", 256, 82)
    public static let iq4_xs = GGMLType(23, "IQ4_XS", 256, 136)
    public static let i8 = GGMLType(24, "I8", 1, 1)
    public static let i16 = GGMLType(25, "I16", 1, 2)
    public static let i32 = GGMLType(26, "I32", 1, 4)
    public static let i64 = GGMLType(27, "I64", 1, 8)
    public static let f64 = GGMLType(28, "F64", 1, 8)
    public static let iq1_m = GGMLType(29, "IQ1_M", 256, 56)
    public static let bf16 = GGMLType(30, "BF16", 1, 2)
    public static let tq1_0 = GGMLType(34, "TQ1_0", 256, 54)
    public static let tq2_0 = GGMLType(35, "TQ2_0", 256, 66)
    public static let mxfp4 = GGMLType(39, "MXFP4", 32, 17)   // u8 e; u8 qs[16]
    public static let nvfp4 = GGMLType(40, "NVFP4", 64, 36)
    public static let q1_0 = GGMLType(41, "Q1_0", 128, 18)

    /// Every defined type, by id.
    public static let all: [GGMLType] = [
        f32, f16, q4_0, q4_1, q5_0, q5_1, q8_0, q8_1, q2_K, q3_K, q4_K, q5_K, q6_K, q8_K,
        iq2_xxs, iq2_xs, iq3_xxs, iq1_s, iq4_nl, iq3_s, iq2_s, iq4_xs, i8, i16, i32, i64, f64, iq1_m,
        bf16, tq1_0, tq2_0, mxfp4, nvfp4, q1_0,
    ]

    private static let byID: [UInt32: GGMLType] = Dictionary(uniqueKeysWithValues: all.map { ($0.id, $0) })
    private static let byName: [String: GGMLType] =
        Dictionary(uniqueKeysWithValues: all.map { ($0.name.lowercased(), $0) })

    /// The type with ggml id `id`, or nil for ids ggml does not define (or has retired).
    public init?(id: UInt32) {
        guard let t = GGMLType.byID[id] else { return nil }
        self = t
    }

    /// The type named `name` ("q4_0", "F16", ...), case-insensitive.
    public init?(name: String) {
        guard let t = GGMLType.byName[name.lowercased()] else { return nil }
        self = t
    }
}
