// ActivationQuant: Q8_0 / Q8_1 quantization of activations as ggml-cpu's `quantize_row_q8_0` / `quantize_row_q8_1`
// compute it at run time — which differs from the reference quantizers that write files (Q8_0.swift, Q8_1.swift):
//   x86-64 (AVX/AVX2 paths): d = amax / 127, id = 127 / amax, q = round-half-even(x · id)
//   arm64 (NEON):           d = amax / 127, id = 1 / d,      q = round-half-even(x · id)
//   reference (files):      d = amax / 127, id = 1 / d,      q = round-half-away(x · id)
// One ulp in id or a tie rounded the other way changes a quant by one step; summed over a model that moves logits
// by tenths, enough to change greedy tokens, so inference quantizes exactly as llama.cpp does on the same CPU family.
// Layouts are those of Q8_0 (d f16, 32 × int8) and Q8_1 (d f16, s f16 = f16(d · Σq), 32 × int8).
enum ActivationQuant {
    @inline(__always)
    static func block(_ v: UnsafePointer<Float>, into qs: UnsafeMutableRawPointer) -> (d: Float, sum: Int32) {
        var amax: Float = 0
        for j in 0..<32 { amax = Swift.max(amax, abs(v[j])) }
        let d = amax / 127
        #if arch(arm64)
        let id: Float = d != 0 ? 1 / d : 0
        #else
        let id: Float = amax != 0 ? 127 / amax : 0
        #endif
        var sum: Int32 = 0
        for j in 0..<32 {
            let q = cInt8((v[j] * id).rounded(.toNearestOrEven))
            qs.storeBytes(of: q, toByteOffset: j, as: Int8.self)
            sum &+= Int32(q)
        }
        return (d, sum)
    }

    static func quantizeQ8_0(_ x: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, _ n: Int) {
        for b in 0..<(n / 32) {
            let p = dst + b * 34
            let (d, _) = block(x + b * 32, into: p + 2)
            p.storeBytes(of: floatToHalf(d).littleEndian, as: UInt16.self)
        }
    }

    static func quantizeQ8_1(_ x: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, _ n: Int) {
        for b in 0..<(n / 32) {
            let p = dst + b * 36
            let (d, sum) = block(x + b * 32, into: p + 4)
            p.storeBytes(of: floatToHalf(d).littleEndian, as: UInt16.self)
            p.storeBytes(of: floatToHalf(d * Float(sum)).littleEndian, toByteOffset: 2, as: UInt16.self)
        }
    }
}
