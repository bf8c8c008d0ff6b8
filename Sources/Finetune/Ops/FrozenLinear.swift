// FrozenLinear: a base weight matrix that stays in its GGUF block type in the memory map, used by training as a
// constant: forward Y = X·Wᵀ and backward dX = dY·W (no weight gradient).
//
// Each product dequantizes tiles of W into small per-task F32 buffers and hands them to BLAS.sgemm — the same
// arithmetic as on the dequantized F32 matrix, without ever holding that matrix (F32 weights are used in place).
//   forward:  tasks own fixed ranges of W's rows (output features) → disjoint column blocks of Y; a task walks its
//             rows in tiles of `tileFloats / cols` rows: Y[:, r0..<r1] = X · W[r0..<r1, :]ᵀ.
//   backward: tasks own fixed, block-aligned ranges of W's columns (input features) → disjoint column blocks of dX;
//             a task walks all rows of W in tiles and accumulates dX[:, c0..<c1] += dY[:, r0..<r1] · W[r0..<r1, c0..<c1]
//             in row order. When W has few column blocks (a K-quant of width 256) the rows of dX are split too.
// The task split depends only on the sizes, and each task's arithmetic is the same whoever runs it, so results
// do not depend on the thread count.
// Shapes: W (out, in) row-major as ggml stores it (GGUF dims [in, out]); X (N, in), Y (N, out), row strides given.

import Formats
import Quant

public struct FrozenLinear: @unchecked Sendable {
    public let name: String
    public let type: GGMLType
    public let data: UnsafeRawPointer
    /// Output features (W's rows).
    public let rows: Int
    /// Input features (W's columns).
    public let cols: Int
    let rowBytes: Int

    /// Floats of one tile (a task's scratch): 64 Ki floats, 256 KiB, about one L2.
    public static let tileFloats = 1 << 16
    /// The most tasks a product splits into (scratch is sized for this many).
    public static let maxParts = 16

    public init(name: String, type: GGMLType, data: UnsafeRawPointer, rows: Int, cols: Int) {
        precondition(cols % type.blockSize == 0, "\(name): \(cols) columns is not a whole number of \(type.name) blocks")
        self.name = name
        self.type = type
        self.data = data
        self.rows = rows
        self.cols = cols
        rowBytes = type.byteCount(elements: cols)!
    }

    /// The matrix `name` of a GGUF file, checked: GGUF dims [cols, rows] and a type Dequantize supports.
    public init(_ file: GGUFFile, _ name: String, cols: Int, rows: Int) throws {
        guard let t = file.tensor(named: name) else { throw FinetuneError.data(file: file.path, message: "missing tensor \(name)") }
        guard t.dims.count == 2, t.dims[0] == cols, t.dims[1] == rows else {
            throw FinetuneError.data(file: file.path, message: "tensor \(name) has shape \(t.dims), expected [\(cols), \(rows)]")
        }
        guard Dequantize.supports(t.type), cols % t.type.blockSize == 0 else {
            throw FinetuneError.data(file: file.path, message: "tensor \(name) has type \(t.type.name), which llmkit cannot dequantize")
        }
        self.init(name: name, type: t.type, data: file.data(of: t).baseAddress!, rows: rows, cols: cols)
    }

    var isF32: Bool { type == .f32 }
    var f32: UnsafePointer<Float> { data.assumingMemoryBound(to: Float.self) }

    /// Floats of one task's tile: `tileFloats`, or one whole row when rows are longer.
    var partFloats: Int { max(FrozenLinear.tileFloats, cols) }
    /// Scratch floats the products need (`maxParts` tiles; none for F32 weights, which BLAS reads in place).
    public var scratchFloats: Int { isF32 ? 0 : FrozenLinear.maxParts * partFloats }

    /// Row `r` as F32 (an embedding lookup).
    public func row(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        try! Dequantize.row(type, data + r * rowBytes, out, cols)  // type checked at init
    }

    /// Dequantizes rows r0..<r1, columns c0..<c1 (block-aligned) into `tile` with row stride c1 − c0.
    @inline(__always)
    func dequantize(rows r: Range<Int>, cols c: Range<Int>, into tile: UnsafeMutablePointer<Float>) {
        let w = c.count, off = c.lowerBound / type.blockSize * type.typeSize
        for (i, row) in r.enumerated() {
            try! Dequantize.row(type, data + row * rowBytes + off, tile + i * w, w)
        }
    }

    /// Rows of W per tile when a tile spans `width` columns.
    @inline(__always) func tileRows(width: Int) -> Int { max(1, partFloats / max(width, 1)) }

    /// Y (N, rows) = X (N, cols) · Wᵀ; accumulate adds into Y instead of overwriting it.
    public func forward(_ y: FloatPointer, ldy: Int, _ x: UnsafePointer<Float>, ldx: Int, n: Int, accumulate: Bool = false,
                        scratch: FloatPointer?, pool: ThreadPool) {
        guard n > 0 else { return }
        let parts = max(1, min(FrozenLinear.maxParts, rows / 32))
        let beta: Float = accumulate ? 1 : 0
        pool.run(parts) { k in
            let mine = Chunks.range(k, parts, rows)
            if mine.isEmpty { return }
            if isF32 {
                BLAS.sgemm(transB: true, m: n, n: mine.count, k: cols, x, lda: ldx, f32 + mine.lowerBound * cols, ldb: cols,
                           beta: beta, y + mine.lowerBound, ldc: ldy)
                return
            }
            let tile = scratch! + k * partFloats
            let step = tileRows(width: cols)
            var r0 = mine.lowerBound
            while r0 < mine.upperBound {
                let r1 = min(r0 + step, mine.upperBound)
                dequantize(rows: r0..<r1, cols: 0..<cols, into: tile)
                BLAS.sgemm(transB: true, m: n, n: r1 - r0, k: cols, x, lda: ldx, tile, ldb: cols, beta: beta, y + r0, ldc: ldy)
                r0 = r1
            }
        }
    }

    /// dX (N, cols) = dY (N, rows) · W, or += when accumulate.
    public func backward(dx: FloatPointer, lddx: Int, dy: UnsafePointer<Float>, lddy: Int, n: Int, accumulate: Bool,
                         scratch: FloatPointer?, pool: ThreadPool) {
        guard n > 0 else { return }
        let bs = type.blockSize, blocks = cols / bs
        let colParts = max(1, min(FrozenLinear.maxParts / 2, blocks, cols / 32))
        let rowParts = colParts >= 4 ? 1 : max(1, min(4 / colParts, n / 16))
        pool.run(colParts * rowParts) { task in
            let cp = task / rowParts, rp = task % rowParts
            let cb = Chunks.range(cp, colParts, blocks)
            let nr = Chunks.range(rp, rowParts, n)
            if cb.isEmpty || nr.isEmpty { return }
            let c = (cb.lowerBound * bs)..<(cb.upperBound * bs)
            let dyRows = dy + nr.lowerBound * lddy, dxRows = dx + nr.lowerBound * lddx + c.lowerBound
            if isF32 {
                BLAS.sgemm(m: nr.count, n: c.count, k: rows, dyRows, lda: lddy, f32 + c.lowerBound, ldb: cols,
                           beta: accumulate ? 1 : 0, dxRows, ldc: lddx)
                return
            }
            let tile = scratch! + task * partFloats
            let step = tileRows(width: c.count)
            var r0 = 0
            while r0 < rows {
                let r1 = min(r0 + step, rows)
                dequantize(rows: r0..<r1, cols: c, into: tile)
                BLAS.sgemm(m: nr.count, n: c.count, k: r1 - r0, dyRows + r0, lda: lddy, tile, ldb: c.count,
                           beta: accumulate || r0 > 0 ? 1 : 0, dxRows, ldc: lddx)
                r0 = r1
            }
        }
    }
}
