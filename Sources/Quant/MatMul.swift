// MatMul: weight matrix × activations, the two shapes inference needs, over any weight type Dot knows.
//   matvec: y (rows) = W (rows × cols) · x (cols)                      — decode, one token
//   matmul: Y (batch × rows) = X (batch × cols) · Wᵀ                   — a prompt batch
// W is row-major in its block type (ggml's layout: row r is `type.byteCount(cols)` bytes at r × stride).
// Activations are quantized once to the weight type's partner (Q8_0 / Q8_1 / Q8_K / F16 …; a batch's rows
// split across the pool), then each output is one dot kernel call (Dot) of a weight row with an activation
// row; rows are split across the shared ThreadPool. With a batch, types with a tile kernel (CKernels gemm.c:
// Q4_0, Q8_0, Q4_K, Q6_K on AVX-512 VNNI; BF16 on AVX-512 BF16; F16 on AVX-512 or AVX2+F16C) compute up to
// 4 rows × 4 activation rows per call instead; those four with a batch of 8 or more use the panel kernels
// (16 weight rows decoded once into a stack scratch per call, against the whole batch; 16-row groups split
// across the pool; Q4_0's panel takes a thread's whole range in one call). A decode batch (2–8 rows, `llmkit serve
// --parallel`) on Q8_0 goes to a kernel of its own with the tile kernel's floats, every weight row read once; a
// single row on Q4_0, Q4_K and F16 to gemv kernels (one call per thread over its rows). All equal the dot kernels
// up to float summation order (GemmTests). Where llama.cpp's x86 build
// sums in an order of its own, that order is kept so a model gives llama.cpp's tokens: Q4_0 (rows % 8 == 0) through
// the chain kernels, Q4_K (rows % 8 == 0) and Q6_K through the order dots and panels (CKernels ops.c, gemm.c).
// Float weights without a tile kernel (F32; F16/BF16 on CPUs without one) with a batch of 32 or more go to BLAS.
import CKernels
import Formats

public enum MatMul {
    /// y[r] = W[r, :] · x for r in 0..<rows.
    public static func matvec(_ type: GGMLType, _ w: UnsafeRawPointer, rows: Int, cols: Int,
                              x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, threads: Int = Convert.defaultThreads) {
        matmul(type, w, rows: rows, cols: cols, x: x, batch: 1, y: y, threads: threads)
    }

    /// Y[b, r] = W[r, :] · X[b, :] for b in 0..<batch, r in 0..<rows (X is batch × cols, Y is batch × rows).
    public static func matmul(_ type: GGMLType, _ w: UnsafeRawPointer, rows: Int, cols: Int,
                              x: UnsafePointer<Float>, batch: Int, y: UnsafeMutablePointer<Float>,
                              threads: Int = Convert.defaultThreads) {
        precondition(cols % type.blockSize == 0, "row length \(cols) is not a multiple of \(type.name)'s block size")
        guard rows > 0, batch > 0 else { return }
        if usesBLAS(type, batch: batch) {
            // Float weights with a real batch: BLAS on each thread's block of weight rows (half-precision
            // rows widened to F32 a tile at a time first; the conversion is cheap next to the batch's work).
            let stride = type.byteCount(elements: cols)!
            let parts = max(1, min(threads, ThreadPool.shared.size, rows))
            let (wv, xv, yv) = (UncheckedBox(w), UncheckedBox(x), UncheckedBox(y))
            ThreadPool.shared.run(ranges: rows, parts: parts) { range in
                if type == .f32 {
                    BLAS.matmulTransposedB(xv.value, wv.value.assumingMemoryBound(to: Float.self) + range.lowerBound * cols,
                                           yv.value + range.lowerBound, m: batch, n: range.count, k: cols, ldc: rows)
                    return
                }
                let tile = max(1, min(range.count, (2 << 20) / (cols * 4)))
                let wide = UnsafeMutablePointer<Float>.allocate(capacity: tile * cols)
                defer { wide.deallocate() }
                var r0 = range.lowerBound
                while r0 < range.upperBound {
                    let n = min(tile, range.upperBound - r0)
                    for r in 0..<n { try? Dequantize.row(type, wv.value + (r0 + r) * stride, wide + r * cols, cols) }
                    BLAS.matmulTransposedB(xv.value, wide, yv.value + r0, m: batch, n: n, k: cols, ldc: rows)
                    r0 += n
                }
            }
            return
        }
        let qx = quantizeActivations(type, x, batch: batch, cols: cols, threads: threads)
        defer { qx.deallocate() }
        let s = split(type, w, rows: rows, cols: cols, qx: qx, batch: batch, y: y, threads: threads)
        ThreadPool.shared.run(s.parts) { s.run($0) }
    }

    /// Several matrices of one type and width times the same X (a Llama layer's q, k, v or its gate, up): the
    /// activations quantized once and one pool dispatch for all, each thread taking its share of every matrix —
    /// each matrix's floats exactly as its own matmul call gives them. (Float types bound for BLAS: one by one.)
    public static func matmul(_ type: GGMLType, _ mats: [(w: UnsafeRawPointer, rows: Int, y: UnsafeMutablePointer<Float>)],
                              cols: Int, x: UnsafePointer<Float>, batch: Int, threads: Int = Convert.defaultThreads) {
        precondition(cols % type.blockSize == 0, "row length \(cols) is not a multiple of \(type.name)'s block size")
        let mats = mats.filter { $0.rows > 0 }
        guard !mats.isEmpty, batch > 0 else { return }
        if mats.count == 1 || usesBLAS(type, batch: batch) {
            for m in mats { matmul(type, m.w, rows: m.rows, cols: cols, x: x, batch: batch, y: m.y, threads: threads) }
            return
        }
        let qx = quantizeActivations(type, x, batch: batch, cols: cols, threads: threads)
        defer { qx.deallocate() }
        let splits = mats.map { split(type, $0.w, rows: $0.rows, cols: cols, qx: qx, batch: batch, y: $0.y, threads: threads) }
        ThreadPool.shared.run(splits.map(\.parts).max()!) { k in
            for s in splits where k < s.parts { s.run(k) }
        }
    }

    /// Whether every row of a batch gets exactly the floats it gets in a product of its own, whatever the batch size
    /// (so sequences can share a forward pass without changing each other's numbers): true where every batch size
    /// reaches kernels with the single row's summation order — Q4_0 in the chain order, Q8_0 (its dot, tile and
    /// decode-batch kernels are one order), Q6_K in llama.cpp's order, and the types a batch takes to the dot kernel
    /// row by row (no tile or panel kernel here).
    public static func sumsLikeOneRow(_ type: GGMLType, rows: Int) -> Bool {
        switch type {
        case .q4_0: return llk_q4_0_uses_chain_order(Int32(rows)) != 0
        case .q8_0: return true
        case .q6_K: return kQuantOrder || (gemmKernel(for: type) == nil && panelKernel(for: type) == nil)
        case .q4_1, .q5_1, .q2_K, .q3_K, .q5_K: return gemmKernel(for: type) == nil && panelKernel(for: type) == nil
        default: return false
        }
    }

    /// Float weights with a real batch and no tile kernel go to BLAS.
    static func usesBLAS(_ type: GGMLType, batch: Int) -> Bool {
        (type == .f32 || type == .f16 || type == .bf16) && batch >= 32 && MatMul.gemmKernel(for: type) == nil
    }

    /// X's rows quantized to `type`'s activation partner (rows split across the pool for a real batch); the
    /// caller deallocates.
    static func quantizeActivations(_ type: GGMLType, _ x: UnsafePointer<Float>, batch: Int, cols: Int,
                                    threads: Int) -> UnsafeMutableRawPointer {
        let act = Dot.activationType(for: type)
        let aStride = act.byteCount(elements: cols)!
        let qx = UnsafeMutableRawPointer.allocate(byteCount: max(aStride * batch, 1), alignment: 64)
        if batch * cols >= 1 << 16 && batch > 1 && threads > 1 {  // a decode batch's few rows: not worth a pool dispatch
            let (xv, qm) = (UncheckedBox(x), UncheckedBox(qx))
            ThreadPool.shared.run(ranges: batch, parts: min(threads, ThreadPool.shared.size)) { range in
                for b in range { Dot.quantizeActivations(act, xv.value + b * cols, qm.value + b * aStride, cols) }
            }
        } else {
            for b in 0..<batch { Dot.quantizeActivations(act, x + b * cols, qx + b * aStride, cols) }
        }
        return qx
    }

    /// One product's work as ThreadPool.run(ranges:parts:) would split it: `parts` contiguous ranges of 0..<n
    /// (rows or 16-row groups), part k computed by run(k).
    struct Split {
        let n: Int, parts: Int
        let body: (Range<Int>) -> Void
        init(n: Int, parts: Int, _ body: @escaping (Range<Int>) -> Void) {
            self.n = n
            self.parts = max(1, min(parts, n))
            self.body = body
        }
        func run(_ k: Int) { body((k * n / parts)..<((k + 1) * n / parts)) }
    }

    /// The kernel path for W (rows × cols of `type`) times the quantized activations qx (batch rows), split across
    /// the pool.
    static func split(_ type: GGMLType, _ w: UnsafeRawPointer, rows: Int, cols: Int, qx: UnsafeMutableRawPointer, batch: Int,
                      y: UnsafeMutablePointer<Float>, threads: Int) -> Split {
        let stride = type.byteCount(elements: cols)!
        let aStride = Dot.activationType(for: type).byteCount(elements: cols)!
        // Row ranges across the pool; 16-row tiles stay in cache while the whole batch goes past them.
        let parts = max(1, min(threads, ThreadPool.shared.size, (rows + 15) / 16))
        let (wv, qv, yv) = (UncheckedBox(w), UncheckedBox(UnsafeRawPointer(qx)), UncheckedBox(y))
        // Summation orders follow llama.cpp on the same CPU, so that a model gives llama.cpp's tokens (Infer):
        // Q4_0 matrices it repacks (x86 AVX2+, rows % 8 == 0) use its repacked kernels' per-output FMA chain —
        // the Q4_0 panel kernel computes exactly that, for any batch; else the chain tile/dot kernels (ops.c).
        // Q8_0 keeps the 4×4 tile (llamafile's tinyBLAS order for batches) instead of the faster panel.
        let chain = type == .q4_0 && llk_q4_0_uses_chain_order(Int32(rows)) != 0
        let kernel: Dot.Kernel? = chain ? llk_dot_q4_0_q8_0_chain : Dot.kernel(for: type)
        let panelFrom = chain ? 2 : MatMul.panelMinBatch
        if chain && batch == 1 && MatMul.q4_0ChainGemv {
            // Decode: 16 rows side by side in one accumulator (the chain order, at matvec speed); one call per
            // thread over its 16-row groups, so the per-call work on the activations is done once.
            let groups = (rows + 15) / 16
            return Split(n: groups, parts: max(1, min(threads, ThreadPool.shared.size, groups))) { range in
                let r = range.lowerBound * 16, nr = min(range.upperBound * 16, rows) - r
                llk_gemv_q4_0_chain(Int32(cols), wv.value + r * stride, stride, Int32(nr), qv.value, yv.value + r)
            }
        }
        if type == .f16 && batch == 1 && MatMul.f16Gemv {
            // F16 decode (AVX-512): one call per thread, the activations widened once, its rows one forward stream.
            return Split(n: rows, parts: parts) { range in
                llk_gemv_f16(Int32(cols), wv.value + range.lowerBound * stride, stride, Int32(range.count), qv.value,
                             yv.value + range.lowerBound)
            }
        }
        // Q4_K (rows % 8 == 0) and Q6_K on x86: llama.cpp's summation orders (ops.c), chosen per activation row as
        // llama.cpp chooses its kernels — Q4_K's repacked gemm for the rows in groups of 4 (batches of 4+), its
        // gemv for the rest; Q6_K's vec_dot for every batch.
        if MatMul.kQuantOrder && (type == .q6_K || (type == .q4_K && rows % 8 == 0)) {
            let q4 = type == .q4_K
            let grouped = batch >= 4 ? batch - batch % 4 : 0
            if batch >= 2 {
                // 16 weight rows decoded once per call against the whole batch (gemm.c's order panels).
                let groups = (rows + 15) / 16
                return Split(n: groups, parts: max(1, min(threads, ThreadPool.shared.size, groups))) { range in
                    for g in range {
                        let r = g * 16, nr = Int32(min(16, rows - r))
                        if q4 {
                            llk_panel_q4_K_order(Int32(cols), wv.value + r * stride, stride, nr, qv.value, aStride, Int32(batch),
                                                 yv.value + r, rows, Int32(grouped))
                        } else {
                            llk_panel_q6_K_order(Int32(cols), wv.value + r * stride, stride, nr, qv.value, aStride, Int32(batch),
                                                 yv.value + r, rows)
                        }
                    }
                }
            }
            return Split(n: rows, parts: parts) { range in
                let a = qv.value
                if q4 {  // one call per thread: the activation-side work once, the rows one forward stream
                    llk_gemv_q4_K_order(Int32(cols), wv.value + range.lowerBound * stride, stride, Int32(range.count), a,
                                        yv.value + range.lowerBound)
                    return
                }
                for r in range { yv.value[r] = llk_dot_q6_K_q8_K_order(Int32(cols), wv.value + r * stride, a) }
            }
        }
        // A batch of 8 or more with a panel kernel: 16 weight rows decoded once per call against the whole batch,
        // the 16-row groups split across the pool.
        if batch >= panelFrom, type != .q8_0, let panel = MatMul.panelKernel(for: type) {
            let groupRows = Int(LLK_PANEL_MAX_ROWS), groups = (rows + groupRows - 1) / groupRows
            return Split(n: groups, parts: max(1, min(threads, ThreadPool.shared.size, groups))) { range in
                if type == .q4_0 {
                    // Q4_0's panel takes any number of rows: one call per thread, the activation side prepared once.
                    let r = range.lowerBound * groupRows, nr = min(range.upperBound * groupRows, rows) - r
                    panel(Int32(cols), wv.value + r * stride, stride, Int32(nr), qv.value, aStride, Int32(batch), yv.value + r, rows)
                    return
                }
                for g in range {
                    let r = g * groupRows, nr = min(groupRows, rows - r)
                    panel(Int32(cols), wv.value + r * stride, stride, Int32(nr), qv.value, aStride, Int32(batch),
                          yv.value + r, rows)
                }
            }
        }
        // A decode batch on Q8_0 (e.g. the output matrix of a batched step): the tile kernel's floats, two activation
        // rows per vector and every weight row read once for the whole batch; one call per thread over its rows.
        if type == .q8_0, batch <= 8, batch >= 2, let small = MatMul.q8_0Small {
            return Split(n: rows, parts: parts) { range in
                small(Int32(cols), wv.value + range.lowerBound * stride, stride, Int32(range.count), qv.value, aStride,
                      Int32(batch), yv.value + range.lowerBound, rows)
            }
        }
        // A prompt batch with a tile kernel: blocks of up to 4 rows × 4 activation rows per call (smaller at
        // the ragged edges), each 16-row tile still meeting the whole batch while it is in cache.
        if batch >= 2, let gemm = chain ? llk_gemm_q4_0_chain : MatMul.gemmKernel(for: type) {
            let tileRows = Int(LLK_GEMM_MAX_ROWS), tileBatch = Int(LLK_GEMM_MAX_BATCH)
            return Split(n: rows, parts: parts) { range in
                var r0 = range.lowerBound
                while r0 < range.upperBound {
                    let r1 = min(r0 + 16, range.upperBound)
                    var b = 0
                    while b < batch {
                        let nb = min(tileBatch, batch - b)
                        var r = r0
                        while r < r1 {
                            let nr = min(tileRows, r1 - r)
                            gemm(Int32(cols), wv.value + r * stride, stride, Int32(nr), qv.value + b * aStride, aStride,
                                 Int32(nb), yv.value + b * rows + r, rows)
                            r += nr
                        }
                        b += nb
                    }
                    r0 = r1
                }
            }
        }
        return Split(n: rows, parts: parts) { range in
            var r0 = range.lowerBound
            while r0 < range.upperBound {
                let r1 = min(r0 + 16, range.upperBound)
                for b in 0..<batch {
                    let a = qv.value + b * aStride
                    let out = yv.value + b * rows
                    if let kernel {
                        for r in r0..<r1 { out[r] = kernel(Int32(cols), wv.value + r * stride, a) }
                    } else {
                        for r in r0..<r1 { out[r] = Dot.reference(type, cols, wv.value + r * stride, a) }
                    }
                }
                r0 = r1
            }
        }
    }

    /// The tile kernel (CKernels gemm.c) for `weightType` on this CPU, or nil (matmul then calls the dot kernel
    /// once per output).
    public static func gemmKernel(for weightType: GGMLType) -> llk_gemm_fn? {
        let id = Int(weightType.id)
        return id < gemmKernels.count ? gemmKernels[id] : nil
    }

    /// Tile kernels by ggml type id, selected once from this machine's features (llk_gemm_select).
    private static let gemmKernels: [llk_gemm_fn?] = (0..<64).map { llk_gemm_select(UInt32($0), CPUFeatures.current.rawValue) }

    /// The smallest batch that goes to a panel kernel (below it the weight decoding is not paid back).
    public static let panelMinBatch = 8
    static let q4_0ChainGemv = llk_gemv_q4_0_chain_available() != 0
    static let q8_0Small = llk_gemm_q8_0_small_select(CPUFeatures.current.rawValue)
    static let f16Gemv = llk_gemv_f16_available() != 0
    static let kQuantOrder = llk_k_quants_use_llamacpp_order() != 0

    /// The panel kernel (CKernels gemm.c: up to 16 weight rows × a whole batch per call) for `weightType` on
    /// this CPU, or nil.
    public static func panelKernel(for weightType: GGMLType) -> llk_gemm_fn? {
        let id = Int(weightType.id)
        return id < panelKernels.count ? panelKernels[id] : nil
    }

    /// Panel kernels by ggml type id, selected once from this machine's features (llk_panel_select).
    private static let panelKernels: [llk_gemm_fn?] = (0..<64).map { llk_panel_select(UInt32($0), CPUFeatures.current.rawValue) }

    /// The same product computed from dequantized weights in Double: the reference the kernels are tested against.
    public static func reference(_ type: GGMLType, _ w: UnsafeRawPointer, rows: Int, cols: Int,
                                 x: UnsafePointer<Float>, batch: Int, y: UnsafeMutablePointer<Float>) throws {
        let stride = type.byteCount(elements: cols)!
        var row = [Float](repeating: 0, count: cols)
        for r in 0..<rows {
            try row.withUnsafeMutableBufferPointer { try Dequantize.row(type, w + r * stride, $0.baseAddress!, cols) }
            for b in 0..<batch {
                var s: Double = 0
                for c in 0..<cols { s += Double(row[c]) * Double(x[b * cols + c]) }
                y[b * rows + r] = Float(s)
            }
        }
    }
}
