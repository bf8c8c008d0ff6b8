// CPU: the features this machine offers the kernels (AVX2, AVX-512 VNNI/BF16, NEON dotprod), read once.
import CKernels

public struct CPUFeatures: OptionSet, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let avx2 = CPUFeatures(rawValue: UInt32(LLK_CPU_AVX2))
    public static let fma = CPUFeatures(rawValue: UInt32(LLK_CPU_FMA))
    public static let f16c = CPUFeatures(rawValue: UInt32(LLK_CPU_F16C))
    public static let avx512f = CPUFeatures(rawValue: UInt32(LLK_CPU_AVX512F))
    public static let avx512bw = CPUFeatures(rawValue: UInt32(LLK_CPU_AVX512BW))
    public static let avx512vnni = CPUFeatures(rawValue: UInt32(LLK_CPU_AVX512VNNI))
    public static let avx512bf16 = CPUFeatures(rawValue: UInt32(LLK_CPU_AVX512BF16))
    public static let neon = CPUFeatures(rawValue: UInt32(LLK_CPU_NEON))
    public static let dotprod = CPUFeatures(rawValue: UInt32(LLK_CPU_DOTPROD))

    /// This machine's features.
    public static let current = CPUFeatures(rawValue: llk_cpu_features())

    public var description: String {
        let names: [(CPUFeatures, String)] = [(.avx2, "AVX2"), (.fma, "FMA"), (.f16c, "F16C"), (.avx512f, "AVX512F"),
                                              (.avx512bw, "AVX512BW"), (.avx512vnni, "AVX512_VNNI"), (.avx512bf16, "AVX512_BF16"),
                                              (.neon, "NEON"), (.dotprod, "DOTPROD")]
        let on = names.filter { contains($0.0) }.map(\.1)
        return on.isEmpty ? "scalar" : on.joined(separator: " ")
    }
}
