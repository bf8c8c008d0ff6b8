// The kernels that reproduce llama.cpp's summation order (CKernels ops.c): each SIMD path equals its portable twin
// bit for bit where the order is the same by construction, and the math within a named tolerance elsewhere.
import CKernels
import Formats
import Foundation
import Testing
@testable import Infer
@testable import Quant

private struct Rng {
    var s: UInt64
    mutating func next() -> UInt64 { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return s }
    mutating func float(_ scale: Float = 1) -> Float { (Float(next() % 2_000_001) / 1_000_000 - 1) * scale }
}

/// F16 dots of exact F16 values: every product is exact in F32, so the only error is the F32 summation.
let f16DotTolerance: Double = 1e-5

@Test(arguments: [16, 32, 64, 96, 128, 256, 1000])
func f16DotsMatchDoubleSums(n: Int) {
    var r = Rng(s: UInt64(n) * 7919)
    let x = (0..<n).map { _ in floatToHalf(r.float(3)) }
    let y = (0..<n).map { _ in floatToHalf(r.float(3)) }
    let want = zip(x, y).reduce(0.0) { $0 + Double(halfToFloat($1.0)) * Double(halfToFloat($1.1)) }
    let scale = zip(x, y).reduce(0.0) { $0 + abs(Double(halfToFloat($1.0)) * Double(halfToFloat($1.1))) }
    let vec = Double(llk_dot_f16_vec(Int32(n), x, y))
    #expect(abs(vec - want) <= f16DotTolerance * scale)
    if n % Int(llk_dot_f16_blas_width()) == 0 {
        #expect(abs(Double(llk_dot_f16_blas(Int32(n), x, y)) - want) <= f16DotTolerance * scale)
    }
}

/// The grouped-query form (each row against several vectors, as the query heads of one KV head) gives
/// llk_dot_f16_vec's floats bit for bit, for 1…6 vectors (past 4: two passes) and rows near and far apart.
@Test(arguments: [(64, 70), (64, 1024), (100, 130), (192, 512)])
func f16MultiDotsEqualTheSingleDot(n: Int, stride: Int) {
    var r = Rng(s: UInt64(n * 31 + stride))
    let rows = 9, ystride = n + 5
    let x = (0..<(rows * stride)).map { _ in floatToHalf(r.float(3)) }
    let y = (0..<(6 * ystride)).map { _ in floatToHalf(r.float(3)) }
    for ny in 1...6 {
        let ostride = rows + 2
        var got = [Float](repeating: .nan, count: 6 * ostride)
        llk_dot_f16_vec_multi(Int32(n), x, stride, Int32(rows), y, ystride, Int32(ny), &got, ostride)
        for g in 0..<6 {
            for i in 0..<ostride {
                if g < ny && i < rows {
                    let want = x.withUnsafeBufferPointer { xb in y.withUnsafeBufferPointer { yb in
                        llk_dot_f16_vec(Int32(n), xb.baseAddress! + i * stride, yb.baseAddress! + g * ystride)
                    } }
                    #expect(got[g * ostride + i].bitPattern == want.bitPattern, "n=\(n) ny=\(ny) vector \(g) row \(i)")
                } else {
                    #expect(got[g * ostride + i].isNaN, "wrote vector \(g) row \(i)")
                }
            }
        }
    }
}

@Test func ropeRotatesWithFusedMultiplyAdds() {
    var r = Rng(s: 11)
    let heads = 3, headDim = 8, nDims = 6
    var x = (0..<(heads * headDim)).map { _ in r.float(2) }
    let orig = x
    var angles = [Float](repeating: 0, count: nDims)
    Ops.ropeAngles(pos: 5, nDims: nDims, base: 10000, freqScale: 1, freqFactors: nil, &angles)
    Ops.rope(&x, heads: heads, headDim: headDim, nDims: nDims, angles: angles)
    for h in 0..<heads {
        for i in stride(from: 0, to: nDims, by: 2) {
            let (c, s) = (angles[i], angles[i + 1])
            let (x0, x1) = (orig[h * headDim + i], orig[h * headDim + i + 1])
            #expect(x[h * headDim + i] == (-(x1 * s)).addingProduct(x0, c))
            #expect(x[h * headDim + i + 1] == (x1 * c).addingProduct(x0, s))
        }
        for i in nDims..<headDim { #expect(x[h * headDim + i] == orig[h * headDim + i]) }
    }
}

/// Random Q4_0 rows and Q8_0 activations (as ggml's run-time quantizer makes them).
private func q4_0Data(rows: Int, batch: Int, cols: Int, seed: UInt64) -> (w: [UInt8], a: [UInt8]) {
    var r = Rng(s: seed)
    let wf = (0..<(rows * cols)).map { _ in r.float(0.5) }
    let af = (0..<(batch * cols)).map { _ in r.float(4) }
    let ws = GGMLType.q4_0.byteCount(elements: cols)!, as_ = GGMLType.q8_0.byteCount(elements: cols)!
    var w = [UInt8](repeating: 0, count: rows * ws), a = [UInt8](repeating: 0, count: batch * as_)
    w.withUnsafeMutableBytes { wb in
        wf.withUnsafeBufferPointer { wp in
            for i in 0..<rows { try! Quantize.row(.q4_0, wp.baseAddress! + i * cols, wb.baseAddress! + i * ws, cols) }
        }
    }
    a.withUnsafeMutableBytes { ab in
        af.withUnsafeBufferPointer { ap in
            for j in 0..<batch { Dot.quantizeActivations(.q8_0, ap.baseAddress! + j * cols, ab.baseAddress! + j * as_, cols) }
        }
    }
    return (w, a)
}

@Test(arguments: [32, 64, 128, 160, 256, 576, 1536])
func q4_0ChainKernelsEqualTheirReferenceBitForBit(cols: Int) {
    let rows = 37, batch = 6
    let (w, a) = q4_0Data(rows: rows, batch: batch, cols: cols, seed: UInt64(cols))
    let ws = GGMLType.q4_0.byteCount(elements: cols)!, as_ = GGMLType.q8_0.byteCount(elements: cols)!
    w.withUnsafeBytes { wb in
        a.withUnsafeBytes { ab in
            var want = [Float](repeating: 0, count: rows * batch)
            for i in 0..<rows {
                for j in 0..<batch {
                    want[j * rows + i] = llk_dot_q4_0_q8_0_chain_ref(Int32(cols), wb.baseAddress! + i * ws, ab.baseAddress! + j * as_)
                    #expect(llk_dot_q4_0_q8_0_chain(Int32(cols), wb.baseAddress! + i * ws, ab.baseAddress! + j * as_) == want[j * rows + i])
                }
            }
            // Tiles of every shape up to 4 × 4 at ragged edges.
            var got = [Float](repeating: .nan, count: rows * batch)
            var i = 0
            while i < rows {
                let nr = min(4, rows - i)
                var j = 0
                while j < batch {
                    let nb = min(4, batch - j)
                    got.withUnsafeMutableBufferPointer { g in
                        llk_gemm_q4_0_chain(Int32(cols), wb.baseAddress! + i * ws, ws, Int32(nr), ab.baseAddress! + j * as_, as_,
                                            Int32(nb), g.baseAddress! + j * rows + i, rows)
                    }
                    j += nb
                }
                i += nr
            }
            #expect(got == want)
            // The decode kernel (16 rows per lane group), on all rows in one call and on ragged row ranges.
            for j in 0..<batch {
                for piece in [rows, 16, 5] {
                    var g16 = [Float](repeating: .nan, count: rows)
                    g16.withUnsafeMutableBufferPointer { g in
                        for r0 in stride(from: 0, to: rows, by: piece) {
                            llk_gemv_q4_0_chain(Int32(cols), wb.baseAddress! + r0 * ws, ws, Int32(min(piece, rows - r0)),
                                                ab.baseAddress! + j * as_, g.baseAddress! + r0)
                        }
                    }
                    #expect(g16 == (0..<rows).map { want[j * rows + $0] })
                }
            }
            // The AVX-512 panel (MatMul's batch path): all rows in one call and in 16-row calls, any batch.
            if let panel = llk_panel_select(GGMLType.q4_0.id, CPUFeatures.current.rawValue) {
                for (piece, nb) in [(rows, batch), (16, batch), (rows, 2), (rows, 1)] {
                    var gp = [Float](repeating: .nan, count: rows * nb)
                    gp.withUnsafeMutableBufferPointer { g in
                        for r0 in stride(from: 0, to: rows, by: piece) {
                            panel(Int32(cols), wb.baseAddress! + r0 * ws, ws, Int32(min(piece, rows - r0)), ab.baseAddress!, as_,
                                  Int32(nb), g.baseAddress! + r0, rows)
                        }
                    }
                    #expect(gp == Array(want[0..<(rows * nb)]), "panel, \(piece)-row calls, batch \(nb)")
                }
            }
            // And the chain is a dot product: within float rounding of the reference dot.
            for i in 0..<rows {
                let d = Dot.reference(.q4_0, cols, wb.baseAddress! + i * ws, ab.baseAddress!)
                #expect(abs(d - want[i]) <= 1e-4 * max(1, abs(d)))
            }
        }
    }
}

@Test func activationQuantizerRoundsHalvesToEven() {
    // x · (127 / amax) lands exactly on k + 0.5 for these values: ggml's run-time quantizer rounds to even.
    var x = [Float](repeating: 0, count: 32)
    x[0] = 127
    x[1] = 2.5
    x[2] = 3.5
    x[3] = -2.5
    var out = [UInt8](repeating: 0, count: 34)
    x.withUnsafeBufferPointer { xp in out.withUnsafeMutableBytes { Dot.quantizeActivations(.q8_0, xp.baseAddress!, $0.baseAddress!, 32) } }
    #expect(Int8(bitPattern: out[2]) == 127)
    #expect(Int8(bitPattern: out[3]) == 2)
    #expect(Int8(bitPattern: out[4]) == 4)
    #expect(Int8(bitPattern: out[5]) == -2)
}

/// Q4_K / Q6_K in llama.cpp's x86 orders: the SIMD integer cores give the portable ones' floats bit for bit, and
/// every order is the same dot product within float rounding.
@Test(arguments: [GGMLType.q4_K, .q6_K])
func kQuantOrderKernelsEqualTheirReference(type: GGMLType) {
    let cols = 1536, rows = 9
    var r = Rng(s: 77)
    let wf = (0..<(rows * cols)).map { _ in r.float(0.5) }
    let af = (0..<cols).map { _ in r.float(3) }
    let ws = type.byteCount(elements: cols)!, as_ = GGMLType.q8_K.byteCount(elements: cols)!
    var w = [UInt8](repeating: 0, count: rows * ws), a = [UInt8](repeating: 0, count: as_)
    w.withUnsafeMutableBytes { wb in
        wf.withUnsafeBufferPointer { wp in
            for i in 0..<rows { try! Quantize.row(type, wp.baseAddress! + i * cols, wb.baseAddress! + i * ws, cols) }
        }
    }
    a.withUnsafeMutableBytes { ab in
        af.withUnsafeBufferPointer { Dot.quantizeActivations(.q8_K, $0.baseAddress!, ab.baseAddress!, cols) }
    }
    w.withUnsafeBytes { wb in
        a.withUnsafeBytes { ab in
            for i in 0..<rows {
                let x = wb.baseAddress! + i * ws, y = ab.baseAddress!
                let want = Dot.reference(type, cols, x, y)
                for variant: Int32 in type == .q4_K ? [0, 1] : [0] {
                    let got = type == .q4_K ? llk_dot_q4_K_q8_K_order(Int32(cols), x, y, variant)
                                            : llk_dot_q6_K_q8_K_order(Int32(cols), x, y)
                    let ref = type == .q4_K ? llk_dot_q4_K_q8_K_order_ref(Int32(cols), x, y, variant)
                                            : llk_dot_q6_K_q8_K_order_ref(Int32(cols), x, y)
                    #expect(got == ref)
                    #expect(abs(got - want) <= 1e-4 * max(1, abs(want)))
                }
            }
        }
    }
}

/// The order panels (16 rows × a batch) give the order dots' floats bit for bit, for ragged row counts, batches
/// that are and are not multiples of 4, and more than one slab of super-blocks.
@Test(arguments: [GGMLType.q4_K, .q6_K])
func kQuantOrderPanelsEqualTheOrderDots(type: GGMLType) {
    let cols = 256 * 6, rows = 13, batch = 11
    var r = Rng(s: 91)
    let wf = (0..<(rows * cols)).map { _ in r.float(0.5) }
    let af = (0..<(batch * cols)).map { _ in r.float(3) }
    let ws = type.byteCount(elements: cols)!, as_ = GGMLType.q8_K.byteCount(elements: cols)!
    var w = [UInt8](repeating: 0, count: rows * ws), a = [UInt8](repeating: 0, count: batch * as_)
    w.withUnsafeMutableBytes { wb in
        wf.withUnsafeBufferPointer { wp in
            for i in 0..<rows { try! Quantize.row(type, wp.baseAddress! + i * cols, wb.baseAddress! + i * ws, cols) }
        }
    }
    a.withUnsafeMutableBytes { ab in
        af.withUnsafeBufferPointer { ap in
            for j in 0..<batch { Dot.quantizeActivations(.q8_K, ap.baseAddress! + j * cols, ab.baseAddress! + j * as_, cols) }
        }
    }
    let grouped = batch - batch % 4
    w.withUnsafeBytes { wb in
        a.withUnsafeBytes { ab in
            var got = [Float](repeating: .nan, count: rows * batch)
            got.withUnsafeMutableBufferPointer { g in
                if type == .q4_K {
                    llk_panel_q4_K_order(Int32(cols), wb.baseAddress!, ws, Int32(rows), ab.baseAddress!, as_, Int32(batch),
                                         g.baseAddress!, rows, Int32(grouped))
                } else {
                    llk_panel_q6_K_order(Int32(cols), wb.baseAddress!, ws, Int32(rows), ab.baseAddress!, as_, Int32(batch),
                                         g.baseAddress!, rows)
                }
            }
            for j in 0..<batch {
                for i in 0..<rows {
                    let x = wb.baseAddress! + i * ws, y = ab.baseAddress! + j * as_
                    let want = type == .q4_K ? llk_dot_q4_K_q8_K_order(Int32(cols), x, y, j < grouped ? 1 : 0)
                                             : llk_dot_q6_K_q8_K_order(Int32(cols), x, y)
                    #expect(got[j * rows + i] == want, "row \(i) activation \(j)")
                }
            }
        }
    }
}

/// Q6_K's order panel on raw blocks (any byte is a valid Q6_K quant or scale; Q8_K activation quants over the whole
/// int8 range with their bsums): equal to the portable order dot bit for bit, for rows below 16, batches past one
/// activation block (32) with odd tails, super-block counts that are odd, and the extremes of its int16 packing
/// (q = 63, scale −128, activation −128).
@Test(arguments: [(cols: 256, rows: 16, batch: 2, extreme: false), (cols: 1280, rows: 3, batch: 67, extreme: false),
                  (cols: 2304, rows: 21, batch: 33, extreme: false), (cols: 768, rows: 5, batch: 3, extreme: true),
                  (cols: 4096, rows: 16, batch: 40, extreme: false)])
func q6KOrderPanelEqualsThePortableDotOnRawBlocks(shape: (cols: Int, rows: Int, batch: Int, extreme: Bool)) {
    let (cols, rows, batch) = (shape.cols, shape.rows, shape.batch), nb = cols / 256
    var r = Rng(s: UInt64(cols * 31 + rows * 7 + batch))
    let ws = nb * 210, as_ = nb * 292
    var w = [UInt8](repeating: 0, count: rows * ws), a = [UInt8](repeating: 0, count: batch * as_)
    for blk in 0..<(rows * nb) {
        for i in 0..<208 { w[blk * 210 + i] = shape.extreme ? (i < 192 ? 0xff : 0x80) : UInt8(truncatingIfNeeded: r.next()) }
        let d = floatToHalf(0.001 + abs(r.float(0.01)))
        w[blk * 210 + 208] = UInt8(d & 0xff)
        w[blk * 210 + 209] = UInt8(d >> 8)
    }
    for blk in 0..<(batch * nb) {
        let base = blk * 292
        withUnsafeBytes(of: (0.01 + abs(r.float(0.05))).bitPattern.littleEndian) { for i in 0..<4 { a[base + i] = $0[i] } }
        for i in 0..<256 { a[base + 4 + i] = shape.extreme ? 0x80 : UInt8(truncatingIfNeeded: r.next()) }
        for s in 0..<16 {
            let sum = (0..<16).reduce(Int16(0)) { $0 + Int16(Int8(bitPattern: a[base + 4 + 16 * s + $1])) }
            a[base + 260 + 2 * s] = UInt8(truncatingIfNeeded: sum)
            a[base + 261 + 2 * s] = UInt8(truncatingIfNeeded: sum >> 8)
        }
    }
    w.withUnsafeBytes { wb in
        a.withUnsafeBytes { ab in
            var got = [Float](repeating: .nan, count: rows * batch)
            got.withUnsafeMutableBufferPointer { g in
                for r0 in stride(from: 0, to: rows, by: 16) {
                    llk_panel_q6_K_order(Int32(cols), wb.baseAddress! + r0 * ws, ws, Int32(min(16, rows - r0)), ab.baseAddress!, as_,
                                         Int32(batch), g.baseAddress! + r0, rows)
                }
            }
            for j in 0..<batch {
                for i in 0..<rows {
                    let x = wb.baseAddress! + i * ws, y = ab.baseAddress! + j * as_
                    let want = llk_dot_q6_K_q8_K_order_ref(Int32(cols), x, y)
                    #expect(got[j * rows + i].bitPattern == want.bitPattern, "row \(i) activation \(j)")
                    if j == 0 { #expect(llk_dot_q6_K_q8_K_order(Int32(cols), x, y).bitPattern == want.bitPattern, "row \(i)") }
                }
            }
        }
    }
}

/// The Q4_K order gemv (many rows, one activation row) gives the gemv-order dot's floats bit for bit — for one
/// row, ragged row counts, one and several super-blocks, and extreme activations (±127, −128) — and MatMul.matvec
/// of a Q4_K matrix (rows % 8 == 0) gives the same floats.
@Test(arguments: [(1, 256), (13, 256 * 6), (40, 512), (8, 256 * 17)])
func q4KOrderGemvEqualsTheOrderDot(rows: Int, cols: Int) {
    var r = Rng(s: UInt64(rows * 1000 + cols))
    let wf = (0..<(rows * cols)).map { _ in r.float(0.5) }
    var af = (0..<cols).map { _ in r.float(3) }
    for c in stride(from: 0, to: cols, by: 37) { af[c] = c % 2 == 0 ? 40 : -40 }  // clamps some blocks to ±127 / −128
    let ws = GGMLType.q4_K.byteCount(elements: cols)!, as_ = GGMLType.q8_K.byteCount(elements: cols)!
    var w = [UInt8](repeating: 0, count: rows * ws), a = [UInt8](repeating: 0, count: as_)
    w.withUnsafeMutableBytes { wb in
        wf.withUnsafeBufferPointer { wp in
            for i in 0..<rows { try! Quantize.row(.q4_K, wp.baseAddress! + i * cols, wb.baseAddress! + i * ws, cols) }
        }
    }
    a.withUnsafeMutableBytes { ab in
        af.withUnsafeBufferPointer { Dot.quantizeActivations(.q8_K, $0.baseAddress!, ab.baseAddress!, cols) }
    }
    var got = [Float](repeating: .nan, count: rows), viaMatMul = [Float](repeating: .nan, count: rows)
    w.withUnsafeBytes { wb in
        a.withUnsafeBytes { ab in
            got.withUnsafeMutableBufferPointer {
                llk_gemv_q4_K_order(Int32(cols), wb.baseAddress!, ws, Int32(rows), ab.baseAddress!, $0.baseAddress!)
            }
            for i in 0..<rows {
                let x = wb.baseAddress! + i * ws, y = ab.baseAddress!
                #expect(got[i] == llk_dot_q4_K_q8_K_order(Int32(cols), x, y, 0), "row \(i)")
                #expect(got[i] == llk_dot_q4_K_q8_K_order_ref(Int32(cols), x, y, 0), "row \(i)")
            }
            af.withUnsafeBufferPointer { xp in
                viaMatMul.withUnsafeMutableBufferPointer {
                    MatMul.matvec(.q4_K, wb.baseAddress!, rows: rows, cols: cols, x: xp.baseAddress!, y: $0.baseAddress!, threads: 2)
                }
            }
        }
    }
    if rows % 8 == 0 && llk_k_quants_use_llamacpp_order() != 0 { #expect(viaMatMul == got) }
}

/// The F16 gemv (decode rows, one call per thread): each output is the Double sum within the F16 dot tolerance, for
/// column tails of every kind (n % 64, n % 16 ≠ 0) and one or many rows.
@Test(arguments: [(1, 16), (3, 7), (5, 64), (9, 1000), (2, 4099)])
func f16GemvMatchesDoubleSums(rows: Int, n: Int) {
    var r = Rng(s: UInt64(rows * 7919 + n))
    let w = (0..<(rows * n)).map { _ in floatToHalf(r.float(3)) }
    let a = (0..<n).map { _ in floatToHalf(r.float(3)) }
    var got = [Float](repeating: .nan, count: rows)
    w.withUnsafeBytes { wb in
        a.withUnsafeBytes { ab in
            got.withUnsafeMutableBufferPointer { llk_gemv_f16(Int32(n), wb.baseAddress!, 2 * n, Int32(rows), ab.baseAddress!, $0.baseAddress!) }
        }
    }
    for i in 0..<rows {
        var want = 0.0, scale = 0.0
        for c in 0..<n {
            let p = Double(halfToFloat(w[i * n + c])) * Double(halfToFloat(a[c]))
            want += p
            scale += abs(p)
        }
        #expect(abs(Double(got[i]) - want) <= f16DotTolerance * scale, "row \(i)")
    }
}
