// Tile (GEMM) and panel kernels: every output of a w_rows × a_rows tile (panel: up to 16 rows × a whole
// batch) against the per-pair reference dot (Dot.reference) on odd shapes with all-zero and extreme blocks
// (DotCase's block kinds), for every ISA variant this CPU can run, and MatMul's batched path against the
// per-pair one.
import CKernels
import Testing
import Formats
@testable import Quant

@Suite struct GemmTests {
    static let weightTypes: [GGMLType] = [.q4_0, .q8_0, .q4_1, .q5_0, .q5_1, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .bf16, .f16]

    /// Tile kernel against the reference dot. The integer block sums are exact; only the float accumulation
    /// order differs (8 lanes, FMA, d_w·d_a rounded once per block pair), so 1e-6 of Σ|w·a| per output.
    static let tileTolerance = 1e-6

    static let isas: [(Int32, String)] = [
        (Int32(LLK_ISA_AVX2), "avx2"), (Int32(LLK_ISA_AVX512), "avx512"), (Int32(LLK_ISA_AVX512BF16), "avx512bf16"),
        (Int32(LLK_ISA_NEON), "neon"),
    ].filter { CPUFeatures.current.isSuperset(of: CPUFeatures(rawValue: llk_dot_isa_features($0.0))) }

    /// `count` rows of `blocks` blocks each, every row a different DotCase (variants cycle through the
    /// all-random and edge-case block mixes), packed weight rows and activation rows.
    struct Rows {
        let type: GGMLType, n: Int, wStride: Int, aStride: Int
        var w = [UInt8](), a = [UInt8](), wf = [[Float]](), af = [[Float]](), off = [[Float]]()

        init(_ type: GGMLType, blocks: Int, wRows: Int, aRows: Int, seed: UInt64) throws {
            self.type = type
            n = blocks * type.blockSize
            wStride = type.byteCount(elements: n)!
            aStride = Dot.activationType(for: type).byteCount(elements: n)!
            let variants = 8  // 0 random, 1...6 edge mixes, 7 random again with another seed
            for i in 0..<max(wRows, aRows) {
                let c = try DotCase(type, blocks: blocks, variant: i % variants, seed: seed &+ UInt64(i) &* 0x51_7CC1)
                if i < wRows { w += c.w; wf.append(c.wf); off.append(c.offsets) }
                if i < aRows { a += c.a; af.append(c.af) }
            }
        }

        /// Σ(|w − off| + |off|)·|a| of weight row i and activation row j (dequantized; `off` the offset part
        /// of each weight, as in DotCase.exact): what the tolerance is relative to.
        func magnitude(_ i: Int, _ j: Int) -> Double {
            var m = 0.0
            for k in 0..<n {
                let f = Double(off[i][k])
                m += (abs(Double(wf[i][k]) - f) + abs(f)) * abs(Double(af[j][k]))
            }
            return m
        }

        func reference(_ i: Int, _ j: Int) -> Float {
            w.withUnsafeBytes { wb in a.withUnsafeBytes { ab in
                Dot.reference(type, n, wb.baseAddress! + i * wStride, ab.baseAddress! + j * aStride)
            } }
        }
    }

    /// Calls `k` on tiles of at most 4 × 4 covering all rows (ragged at the ends), outputs batch × rows.
    static func tiled(_ k: llk_gemm_fn, _ r: Rows, wRows: Int, aRows: Int) -> [Float] {
        var out = [Float](repeating: .nan, count: wRows * aRows)
        r.w.withUnsafeBytes { wb in r.a.withUnsafeBytes { ab in out.withUnsafeMutableBufferPointer { o in
            var j = 0
            while j < aRows {
                let nj = min(Int(LLK_GEMM_MAX_BATCH), aRows - j)
                var i = 0
                while i < wRows {
                    let ni = min(Int(LLK_GEMM_MAX_ROWS), wRows - i)
                    k(Int32(r.n), wb.baseAddress! + i * r.wStride, r.wStride, Int32(ni), ab.baseAddress! + j * r.aStride,
                      r.aStride, Int32(nj), o.baseAddress! + j * wRows + i, wRows)
                    i += ni
                }
                j += nj
            }
        } } }
        return out
    }

    static let shapes: [Int] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 17, 33]

    @Test(arguments: weightTypes)
    func tileMatchesReference(_ t: GGMLType) throws {
        var kernels: [(llk_gemm_fn, String)] = []
        for (isa, name) in Self.isas { if let k = llk_gemm_kernel(t.id, isa) { kernels.append((k, name)) } }
        guard !kernels.isEmpty else { return }
        // cols 32…1024; BF16 (block size 1): tails of every kind around the 32-wide step
        let blockCounts = t.blockSize == 256 ? [1, 2, 3, 4] : t.blockSize == 1 ? [1, 5, 31, 32, 33, 64, 95, 257, 1024]
            : [1, 2, 3, 7, 17, 32]
        for blocks in blockCounts {
            for (si, wRows) in Self.shapes.enumerated() {
                // every row count meets several batch sizes (all pairs for the small ones)
                let batches = wRows <= 9 ? Self.shapes.filter { $0 <= 9 || $0 == 17 } : [1, 4, 9, 33]
                for aRows in batches {
                    let r = try Rows(t, blocks: blocks, wRows: wRows, aRows: aRows, seed: UInt64(t.id) &* 977 &+ UInt64(si * 64 + aRows))
                    for (k, name) in kernels {
                        let got = Self.tiled(k, r, wRows: wRows, aRows: aRows)
                        for j in 0..<aRows {
                            for i in 0..<wRows {
                                let want = r.reference(i, j), g = got[j * wRows + i]
                                let tol = Self.tileTolerance * r.magnitude(i, j) + 1e-30
                                #expect(abs(Double(g) - Double(want)) <= tol,
                                        "\(t) \(name) n=\(r.n) \(wRows)×\(aRows): out[\(j),\(i)] = \(g), reference \(want)")
                            }
                        }
                    }
                }
            }
        }
    }

    /// Calls the panel kernel `k` on groups of at most 16 weight rows, each against all `aRows` activation rows.
    static func paneled(_ k: llk_gemm_fn, _ r: Rows, wRows: Int, aRows: Int) -> [Float] {
        var out = [Float](repeating: .nan, count: wRows * aRows)
        r.w.withUnsafeBytes { wb in r.a.withUnsafeBytes { ab in out.withUnsafeMutableBufferPointer { o in
            var i = 0
            while i < wRows {
                let ni = min(Int(LLK_PANEL_MAX_ROWS), wRows - i)
                k(Int32(r.n), wb.baseAddress! + i * r.wStride, r.wStride, Int32(ni), ab.baseAddress!, r.aStride,
                  Int32(aRows), o.baseAddress! + i, wRows)
                i += ni
            }
        } } }
        return out
    }

    /// Panel kernels against the reference dot: row counts around the 16-row group, batches around the 8-row
    /// register tile, and column counts around the 1024-weight slab (K-quants: 1, 3, 4, 5, 9 super-blocks;
    /// Q4_0/Q8_0: 1, 3, 8, 32, 33, 67 blocks, odd counts also exercising the two-block transpose's padding).
    @Test(arguments: [GGMLType.q4_K, .q6_K, .q4_0, .q8_0])
    func panelMatchesReference(_ t: GGMLType) throws {
        var kernels: [(llk_gemm_fn, String)] = []
        for (isa, name) in Self.isas { if let k = llk_panel_kernel(t.id, isa) { kernels.append((k, name)) } }
        guard !kernels.isEmpty else { return }
        let blockCounts = t.blockSize == 256 ? [1, 3, 4, 5, 9] : [1, 3, 8, 32, 33, 67]
        for blocks in blockCounts {
            for (si, wRows) in [1, 2, 3, 5, 7, 16, 17, 33].enumerated() {
                let batches = blocks * t.blockSize <= 1024 ? [1, 2, 3, 5, 7, 8, 9, 17, 33] : [1, 8, 13]
                for aRows in batches {
                    let r = try Rows(t, blocks: blocks, wRows: wRows, aRows: aRows,
                                     seed: UInt64(t.id) &* 1013 &+ UInt64(blocks * 4096 + si * 64 + aRows))
                    for (k, name) in kernels {
                        let got = Self.paneled(k, r, wRows: wRows, aRows: aRows)
                        for j in 0..<aRows {
                            for i in 0..<wRows {
                                let want = r.reference(i, j), g = got[j * wRows + i]
                                let tol = Self.tileTolerance * r.magnitude(i, j) + 1e-30
                                #expect(abs(Double(g) - Double(want)) <= tol,
                                        "\(t) panel \(name) n=\(r.n) \(wRows)×\(aRows): out[\(j),\(i)] = \(g), reference \(want)")
                            }
                        }
                    }
                }
            }
        }
    }

    /// Calls `k` once on all wRows × aRows of `r` with an out_stride past the rows, and expects `want`'s floats (batch ×
    /// wRows) bit for bit and nothing written outside the outputs.
    static func expectSameBitsInOneCall(_ k: llk_gemm_fn, _ r: Rows, wRows: Int, aRows: Int, want: [Float], _ what: String) {
        let os = wRows + 3
        var got = [Float](repeating: 12345, count: os * (aRows + 1))
        r.w.withUnsafeBytes { wb in r.a.withUnsafeBytes { ab in
            k(Int32(r.n), wb.baseAddress!, r.wStride, Int32(wRows), ab.baseAddress!, r.aStride, Int32(aRows), &got, os)
        } }
        for idx in 0..<got.count {
            let (j, i) = (idx / os, idx % os)
            if j < aRows && i < wRows {
                #expect(got[idx].bitPattern == want[j * wRows + i].bitPattern,
                        "\(what) n=\(r.n) \(wRows)×\(aRows): out[\(j),\(i)] = \(got[idx]), expected \(want[j * wRows + i])")
            } else {
                #expect(got[idx] == 12345, "\(what) \(wRows)×\(aRows) wrote out[\(j),\(i)]")
            }
        }
    }

    /// Q4_0 / Q8_0 panels take any number of weight rows in one call (MatMul: a thread's range): the same floats,
    /// bit for bit, as one call per 16 rows, and nothing written outside the outputs.
    @Test(arguments: [GGMLType.q4_0, .q8_0])
    func panelOverManyRowsEqualsPerGroupCalls(_ t: GGMLType) throws {
        let ks = Self.isas.compactMap { llk_panel_kernel(t.id, $0.0) }
        for (bi, blocks) in [1, 18, 33, 67].enumerated() {
            for wRows in [17, 40, 64, 75] {
                for aRows in [1, 2, 5, 8, 11] {
                    let r = try Rows(t, blocks: blocks, wRows: wRows, aRows: aRows, seed: UInt64(bi * 1000 + wRows * 16 + aRows))
                    for k in ks {
                        Self.expectSameBitsInOneCall(k, r, wRows: wRows, aRows: aRows, want: Self.paneled(k, r, wRows: wRows, aRows: aRows),
                                                     "\(t) panel")
                    }
                }
            }
        }
    }

    /// The Q8_0 decode-batch kernel gives the tile kernel's floats bit for bit (both tinyBLAS's order) for every
    /// batch 1…11 (past 8: groups of 8) and ragged row counts, and writes only its outputs.
    @Test func q8_0DecodeBatchKernelEqualsTile() throws {
        guard let small = llk_gemm_q8_0_small_select(CPUFeatures.current.rawValue),
              let tile = llk_gemm_kernel(GGMLType.q8_0.id, Int32(LLK_ISA_AVX512)) else { return }
        for (bi, blocks) in [1, 2, 18, 33].enumerated() {
            for wRows in [1, 3, 4, 7, 13] {
                for aRows in 1...11 {
                    let r = try Rows(.q8_0, blocks: blocks, wRows: wRows, aRows: aRows, seed: UInt64(bi * 977 + wRows * 32 + aRows))
                    Self.expectSameBitsInOneCall(small, r, wRows: wRows, aRows: aRows, want: Self.tiled(tile, r, wRows: wRows, aRows: aRows),
                                                 "Q8_0 decode batch vs tile")
                }
            }
        }
    }

    /// A panel kernel writes exactly its w_rows × a_rows outputs at out_stride and nothing else.
    @Test(arguments: [GGMLType.q4_K, .q6_K, .q4_0, .q8_0])
    func panelWritesOnlyItsOutputs(_ t: GGMLType) throws {
        let ks = Self.isas.compactMap { llk_panel_kernel(t.id, $0.0) }
        let r = try Rows(t, blocks: t.blockSize == 256 ? 5 : 37, wRows: 16, aRows: 11, seed: 11)
        for k in ks {
            for wr in [1, 2, 9, 15, 16] {
                for ar in [1, 7, 8, 11] {
                    let os = 19
                    var out = [Float](repeating: 12345, count: os * 12)
                    r.w.withUnsafeBytes { wb in r.a.withUnsafeBytes { ab in
                        k(Int32(r.n), wb.baseAddress!, r.wStride, Int32(wr), ab.baseAddress!, r.aStride, Int32(ar), &out, os)
                    } }
                    for idx in 0..<out.count {
                        let (j, i) = (idx / os, idx % os)
                        if j < ar && i < wr {
                            #expect(abs(Double(out[idx]) - Double(r.reference(i, j))) <= Self.tileTolerance * r.magnitude(i, j) + 1e-30)
                        } else {
                            #expect(out[idx] == 12345, "\(t) panel \(wr)×\(ar) wrote out[\(j),\(i)]")
                        }
                    }
                }
            }
        }
    }

    /// A tile kernel writes exactly its w_rows × a_rows outputs at out_stride and nothing else.
    @Test func writesOnlyItsTile() throws {
        for t in [GGMLType.q4_0, .q8_0, .q4_K, .q6_K, .bf16, .f16] {
            // every ISA variant this CPU runs (F16: the AVX2 one splits the tile in halves)
            let ks = Self.isas.compactMap { llk_gemm_kernel(t.id, $0.0) }
            let r = try Rows(t, blocks: t.blockSize == 1 ? 45 : 1, wRows: 4, aRows: 4, seed: 7)
            for k in ks { for wr in 1...4 {
                for ar in 1...4 {
                    let os = 7
                    var out = [Float](repeating: 12345, count: os * 5)
                    r.w.withUnsafeBytes { wb in r.a.withUnsafeBytes { ab in
                        k(Int32(r.n), wb.baseAddress!, r.wStride, Int32(wr), ab.baseAddress!, r.aStride, Int32(ar), &out, os)
                    } }
                    for idx in 0..<out.count {
                        let (j, i) = (idx / os, idx % os)
                        if j < ar && i < wr {
                            #expect(abs(Double(out[idx]) - Double(r.reference(i, j))) <= Self.tileTolerance * r.magnitude(i, j) + 1e-30)
                        } else {
                            #expect(out[idx] == 12345, "\(t) \(wr)×\(ar) wrote out[\(j),\(i)]")
                        }
                    }
                }
            } }
        }
    }

    /// MatMul with a batch (tile path where a kernel exists) against the per-pair dot of its quantized inputs.
    @Test(arguments: [GGMLType.q4_0, .q8_0, .q4_K, .q6_K, .q5_0, .bf16, .f16])
    func matmulBatchMatchesPerPair(_ t: GGMLType) throws {
        // batch 37: float types switch from the per-pair path to BLAS (no tile kernel) or the tile path at 32
        // batches ≥ MatMul.panelMinBatch take the panel path for Q4_0/Q8_0/Q4_K/Q6_K (row groups of 16, ragged)
        for (rows, cols, batch) in [(33, 256, 9), (17, 512, 2), (40, 1024, 5), (7, 256, 17), (9, 512, 37), (35, 1280, 8)] {
            // without a tile kernel float batches ≥ 32 use BLAS on unrounded activations: not this comparison
            if t.blockSize == 1 && batch >= 32 && MatMul.gemmKernel(for: t) == nil { continue }
            var s: UInt64 = 0xABCD &+ UInt64(rows * cols * batch)
            func rnd() -> Float { s = s &* 6364136223846793005 &+ 1442695040888963407; return Float(Int64(bitPattern: s) >> 40) / Float(1 << 23) }
            let stride = t.byteCount(elements: cols)!
            var w = [UInt8](repeating: 0, count: rows * stride)
            let wf = (0..<(rows * cols)).map { _ in rnd() }
            try w.withUnsafeMutableBytes { wb in
                try wf.withUnsafeBufferPointer { for i in 0..<rows { try Quantize.row(t, $0.baseAddress! + i * cols, wb.baseAddress! + i * stride, cols) } }
            }
            let xs = (0..<(batch * cols)).map { _ in rnd() }
            let act = Dot.activationType(for: t), aStride = act.byteCount(elements: cols)!
            var qx = [UInt8](repeating: 0, count: batch * aStride)
            xs.withUnsafeBufferPointer { x in qx.withUnsafeMutableBytes { q in
                for b in 0..<batch { Dot.quantizeActivations(act, x.baseAddress! + b * cols, q.baseAddress! + b * aStride, cols) }
            } }
            var got = [Float](repeating: .nan, count: batch * rows)
            w.withUnsafeBytes { wb in MatMul.matmul(t, wb.baseAddress!, rows: rows, cols: cols, x: xs, batch: batch, y: &got, threads: 2) }
            for b in 0..<batch {
                for i in 0..<rows {
                    let (want, mag) = w.withUnsafeBytes { wb in qx.withUnsafeBytes { q in
                        let wp = wb.baseAddress! + i * stride, ap = q.baseAddress! + b * aStride
                        var wd = [Float](repeating: 0, count: cols), ad = wd
                        try? wd.withUnsafeMutableBufferPointer { try Dequantize.row(t, wp, $0.baseAddress!, cols) }
                        try? ad.withUnsafeMutableBufferPointer { try Dequantize.row(act, ap, $0.baseAddress!, cols) }
                        var m = 0.0
                        for c in 0..<cols { m += abs(Double(wd[c]) * Double(ad[c])) }
                        return (Dot.reference(t, cols, wp, ap), m)
                    } }
                    #expect(abs(Double(got[b * rows + i]) - Double(want)) <= Self.tileTolerance * mag + 1e-30,
                            "\(t) \(rows)×\(cols) batch \(batch): y[\(b),\(i)] = \(got[b * rows + i]) vs \(want)")
                }
            }
        }
    }

    /// Several matrices of one type times the same X in one dispatch (q/k/v, gate/up) give each matrix's own
    /// matmul floats bit for bit, for decode (1), decode batches (2, 8) and a prompt batch (37), with row counts that
    /// split differently (16-row groups, ragged).
    @Test(arguments: [GGMLType.q4_0, .q8_0, .q4_K, .q6_K, .f16, .q5_0])
    func groupedMatmulEqualsOneByOne(_ t: GGMLType) throws {
        let cols = 512, rowCounts = [48, 16, 35]
        var s: UInt64 = 0x5EED &+ UInt64(t.id)
        func rnd() -> Float { s = s &* 6364136223846793005 &+ 1442695040888963407; return Float(Int64(bitPattern: s) >> 40) / Float(1 << 23) }
        let stride = t.byteCount(elements: cols)!
        var ws: [[UInt8]] = []
        for rows in rowCounts {
            var w = [UInt8](repeating: 0, count: rows * stride)
            let wf = (0..<(rows * cols)).map { _ in rnd() }
            try w.withUnsafeMutableBytes { wb in
                try wf.withUnsafeBufferPointer { for i in 0..<rows { try Quantize.row(t, $0.baseAddress! + i * cols, wb.baseAddress! + i * stride, cols) } }
            }
            ws.append(w)
        }
        for batch in [1, 2, 8, 37] {
            let xs = (0..<(batch * cols)).map { _ in rnd() }
            var want: [[Float]] = rowCounts.map { [Float](repeating: .nan, count: batch * $0) }
            var got = want
            for m in 0..<ws.count {
                ws[m].withUnsafeBytes { wb in
                    MatMul.matmul(t, wb.baseAddress!, rows: rowCounts[m], cols: cols, x: xs, batch: batch, y: &want[m], threads: 2)
                }
            }
            let wps = ws.map { w in w.withUnsafeBytes { UnsafeMutableRawPointer.allocate(byteCount: $0.count, alignment: 64) } }
            defer { wps.forEach { $0.deallocate() } }
            for m in 0..<ws.count { ws[m].withUnsafeBytes { wps[m].copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
            let ys = got.map { g in UnsafeMutablePointer<Float>.allocate(capacity: g.count) }
            defer { ys.forEach { $0.deallocate() } }
            MatMul.matmul(t, (0..<ws.count).map { (UnsafeRawPointer(wps[$0]), rowCounts[$0], ys[$0]) }, cols: cols, x: xs, batch: batch, threads: 2)
            for m in 0..<ws.count { got[m] = Array(UnsafeBufferPointer(start: ys[m], count: got[m].count)) }
            for m in 0..<ws.count {
                #expect(got[m].map(\.bitPattern) == want[m].map(\.bitPattern), "\(t) batch \(batch) matrix \(m)")
            }
        }
    }

    /// Where MatMul says a row's floats do not depend on the batch (`sumsLikeOneRow`: what lets the server run
    /// several prompts in one pass), every row of a batch equals its matvec bit for bit, for decode-batch and prompt
    /// sizes; checked for every type it is claimed for on this CPU (Q8_0 and Q4_1 always).
    @Test func batchInvariantTypesGiveEachRowItsOwnFloats() throws {
        #expect(MatMul.sumsLikeOneRow(.q8_0, rows: 16) && MatMul.sumsLikeOneRow(.q4_1, rows: 16))
        #expect(!MatMul.sumsLikeOneRow(.f16, rows: 16))
        let cols = 512
        var s: UInt64 = 0xB17
        func rnd() -> Float { s = s &* 6364136223846793005 &+ 1442695040888963407; return Float(Int64(bitPattern: s) >> 40) / Float(1 << 23) }
        for t in Self.weightTypes {
            for rows in [48, 20] where MatMul.sumsLikeOneRow(t, rows: rows) {
                let stride = t.byteCount(elements: cols)!
                var w = [UInt8](repeating: 0, count: rows * stride)
                let wf = (0..<(rows * cols)).map { _ in rnd() }
                try w.withUnsafeMutableBytes { wb in
                    try wf.withUnsafeBufferPointer { for i in 0..<rows { try Quantize.row(t, $0.baseAddress! + i * cols, wb.baseAddress! + i * stride, cols) } }
                }
                for batch in [2, 5, 8, 9, 37] {
                    let xs = (0..<(batch * cols)).map { _ in rnd() }
                    var got = [Float](repeating: .nan, count: batch * rows), one = [Float](repeating: .nan, count: rows)
                    w.withUnsafeBytes { wb in
                        MatMul.matmul(t, wb.baseAddress!, rows: rows, cols: cols, x: xs, batch: batch, y: &got, threads: 2)
                        for b in 0..<batch {
                            xs.withUnsafeBufferPointer { MatMul.matvec(t, wb.baseAddress!, rows: rows, cols: cols, x: $0.baseAddress! + b * cols, y: &one, threads: 2) }
                            #expect(Array(got[(b * rows)..<((b + 1) * rows)]).map(\.bitPattern) == one.map(\.bitPattern),
                                    "\(t) \(rows) rows, batch \(batch), row \(b)")
                        }
                    }
                }
            }
        }
    }

    @Test func selection() {
        #expect(llk_gemm_select(GGMLType.q4_0.id, 0) == nil)  // no features: no tile kernel
        #expect(MatMul.gemmKernel(for: .f32) == nil)
        #expect(MatMul.gemmKernel(for: .iq2_xxs) == nil)
        #if arch(x86_64)
        if CPUFeatures.current.isSuperset(of: [.avx2, .fma, .f16c, .avx512f, .avx512bw, .avx512vnni]) {
            for t in [GGMLType.q4_0, .q5_0, .q8_0, .q4_K, .q6_K] { #expect(MatMul.gemmKernel(for: t) != nil, "\(t)") }
        }
        #expect(llk_panel_select(GGMLType.q4_K.id, 0) == nil)
        #expect(MatMul.panelKernel(for: .q5_0) == nil && MatMul.panelKernel(for: .f16) == nil)
        if CPUFeatures.current.isSuperset(of: [.avx2, .fma, .f16c, .avx512f, .avx512bw, .avx512vnni]) {
            for t in [GGMLType.q4_0, .q8_0, .q4_K, .q6_K] { #expect(MatMul.panelKernel(for: t) != nil, "\(t)") }
        }
        #expect(llk_gemm_select(GGMLType.bf16.id, CPUFeatures.current.subtracting(.avx512bf16).rawValue) == nil)
        if CPUFeatures.current.isSuperset(of: [.avx2, .fma, .f16c, .avx512f, .avx512bw, .avx512bf16]) {
            #expect(MatMul.gemmKernel(for: .bf16) != nil)
        }
        // F16: AVX-512 where the AVX512 ISA is there, else AVX2 + FMA + F16C, else none
        #expect(llk_gemm_select(GGMLType.f16.id, CPUFeatures.current.subtracting([.avx2, .fma, .f16c]).rawValue) == nil)
        if CPUFeatures.current.isSuperset(of: [.avx2, .fma, .f16c]) {
            #expect(MatMul.gemmKernel(for: .f16) != nil)
            let avx2Only = CPUFeatures.current.subtracting([.avx512f, .avx512bw, .avx512vnni, .avx512bf16]).rawValue
            let addr = { (f: llk_gemm_fn?) in f.map { unsafeBitCast($0, to: UnsafeRawPointer.self) } }
            #expect(addr(llk_gemm_kernel(GGMLType.f16.id, Int32(LLK_ISA_AVX2))) != nil)
            #expect(addr(llk_gemm_select(GGMLType.f16.id, avx2Only)) == addr(llk_gemm_kernel(GGMLType.f16.id, Int32(LLK_ISA_AVX2))))
        }
        #else
        #expect(MatMul.gemmKernel(for: .q8_0) == nil)
        #endif
    }
}
