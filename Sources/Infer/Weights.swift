// Weights: typed, shape-checked views of a GGUF's tensors, used in place from the memory map (no copy). Matrices
// stay in their block type and are multiplied by Quant's MatMul; 1-D F32 tensors (norm weights, biases) are
// read directly; the rare 1-D tensor stored in another type is widened once into memory the model owns.
// LoRA adapters ride on a matrix as low-rank deltas in F32, added after the base product: y += s·(x·Aᵀ)·Bᵀ.
import Formats
import Quant

/// One adapter's low-rank update of a matrix: ΔW = s·B·A, with A [rank, cols] and B [rows, rank] row-major F32
/// (B's rows in the GGUF's row order) and s = the user's multiplier × the adapter's alpha/rank.
final class LoRADelta: @unchecked Sendable {
    let rank: Int
    let a: [Float]
    let b: [Float]
    let scale: Float
    init(rank: Int, a: [Float], b: [Float], scale: Float) { self.rank = rank; self.a = a; self.b = b; self.scale = scale }

    /// Y (T × rows) += s · (X (T × cols) · Aᵀ) · Bᵀ, through BLAS.
    func apply(_ x: UnsafePointer<Float>, _ T: Int, cols: Int, rows: Int, _ y: UnsafeMutablePointer<Float>) {
        var xa = [Float](repeating: 0, count: T * rank)  // (T, rank)
        a.withUnsafeBufferPointer { A in
            xa.withUnsafeMutableBufferPointer { XA in
                BLAS.sgemm(transB: true, m: T, n: rank, k: cols, x, lda: cols, A.baseAddress!, ldb: cols, XA.baseAddress!, ldc: rank)
            }
        }
        b.withUnsafeBufferPointer { B in
            xa.withUnsafeBufferPointer { XA in
                BLAS.sgemm(transB: true, m: T, n: rows, k: rank, alpha: scale, XA.baseAddress!, lda: rank, B.baseAddress!, ldb: rank,
                           beta: 1, y, ldc: rows)
            }
        }
    }
}

/// A weight matrix W (rows × cols, ggml layout: row r is the r-th output feature) with an optional bias.
struct Linear: @unchecked Sendable {
    let name: String
    let type: GGMLType
    let data: UnsafeRawPointer
    let rows: Int
    let cols: Int
    var bias: UnsafePointer<Float>? = nil
    /// LoRA updates (several adapters stack, as in llama.cpp).
    var deltas: [LoRADelta] = []

    /// Y (T × rows) = X (T × cols) · Wᵀ (+ bias) (+ each adapter's s·(X·Aᵀ)·Bᵀ).
    @inline(__always)
    func callAsFunction(_ x: UnsafePointer<Float>, _ T: Int, _ y: UnsafeMutablePointer<Float>, threads: Int) {
        MatMul.matmul(type, data, rows: rows, cols: cols, x: x, batch: T, y: y, threads: threads)
        finish(x, T, y)
    }

    /// Y += bias and each adapter's update, after the base product.
    private func finish(_ x: UnsafePointer<Float>, _ T: Int, _ y: UnsafeMutablePointer<Float>) {
        if let bias {
            for t in 0..<T { Ops.add(y + t * rows, bias, n: rows) }
        }
        for d in deltas { d.apply(x, T, cols: cols, rows: rows, y) }
    }

    /// Several matrices applied to the same X (a layer's q, k, v; gate, up), each Y as its own call gives it: one
    /// MatMul dispatch for the base products when they share a type and width (one pool barrier instead of one each).
    static func apply(_ ls: [Linear], _ x: UnsafePointer<Float>, _ T: Int, _ ys: [UnsafeMutablePointer<Float>], threads: Int) {
        guard let first = ls.first, ls.allSatisfy({ $0.type == first.type && $0.cols == first.cols }) else {
            for (l, y) in zip(ls, ys) { l(x, T, y, threads: threads) }
            return
        }
        MatMul.matmul(first.type, zip(ls, ys).map { ($0.data, $0.rows, $1) }, cols: first.cols, x: x, batch: T, threads: threads)
        for (l, y) in zip(ls, ys) { l.finish(x, T, y) }
    }

    /// Row `r` as F32 (embedding lookup).
    func row(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        let stride = type.byteCount(elements: cols)!
        try! Dequantize.row(type, data + r * stride, out, cols)  // type checked at load: dequantizable
    }

    var byteCount: Int { rows * type.byteCount(elements: cols)! }

    /// Whether each row of X gets the same Y row in any batch (MatMul.sumsLikeOneRow; adapters go through BLAS, whose
    /// blocking may depend on the batch).
    var sumsLikeOneRow: Bool { deltas.isEmpty && MatMul.sumsLikeOneRow(type, rows: rows) }
}

/// Looks tensors up by GGUF name and checks their shapes; keeps the file mapped for the model's lifetime.
final class WeightLoader {
    let file: GGUFFile
    private(set) var owned: [UnsafeMutablePointer<Float>] = []
    /// Adapter deltas by base tensor name, handed to the matrices as they load; names no matrix took are left.
    private(set) var pendingDeltas: [String: [LoRADelta]] = [:]

    init(_ file: GGUFFile) { self.file = file }

    /// Checks each adapter against the base (llama.cpp's loader checks) and keeps its pairs for `matrix`.
    func attach(_ adapters: [(adapter: LoRAAdapter, scale: Float)]) throws {
        for (ad, s) in adapters {
            do { try ad.validate(base: file) } catch { throw fail("adapter: \(error)") }
            for (name, p) in ad.pairs {
                pendingDeltas[name, default: []].append(LoRADelta(rank: p.rank, a: p.a, b: p.b, scale: s * ad.scale(of: p)))
            }
        }
    }

    func has(_ name: String) -> Bool { file.tensor(named: name) != nil }

    private func fail(_ m: String) -> InferError { .model(file: file.path, message: m) }

    /// A matrix with `cols` inputs and `rows` outputs (GGUF dims [cols, rows]).
    func matrix(_ name: String, cols: Int, rows: Int, bias: String? = nil) throws -> Linear {
        guard let t = file.tensor(named: name) else { throw fail("missing tensor \(name)") }
        guard t.dims.count == 2, t.dims[0] == cols, t.dims[1] == rows else {
            throw fail("tensor \(name) has shape \(t.dims), expected [\(cols), \(rows)]")
        }
        guard Dot.supports(t.type), Dequantize.supports(t.type) else {
            throw fail("tensor \(name) has type \(t.type.name), which llmkit cannot compute with")
        }
        var l = Linear(name: name, type: t.type, data: file.data(of: t).baseAddress!, rows: rows, cols: cols)
        if let bias { l.bias = try vector(bias, count: rows) }
        l.deltas = pendingDeltas.removeValue(forKey: name) ?? []
        return l
    }

    /// A 1-D F32 vector of `count` elements (other float types widened once).
    func vector(_ name: String, count: Int) throws -> UnsafePointer<Float> {
        guard let t = file.tensor(named: name) else { throw fail("missing tensor \(name)") }
        guard t.elementCount == count, t.dims.count == 1 || t.dims.dropFirst().allSatisfy({ $0 == 1 }) else {
            throw fail("tensor \(name) has shape \(t.dims), expected [\(count)]")
        }
        let bytes = file.data(of: t)
        if t.type == .f32 { return bytes.baseAddress!.assumingMemoryBound(to: Float.self) }
        guard Dequantize.supports(t.type) else { throw fail("tensor \(name) has unsupported type \(t.type.name)") }
        let p = UnsafeMutablePointer<Float>.allocate(capacity: count)
        do { try Dequantize.row(t.type, bytes.baseAddress!, p, count) } catch {
            p.deallocate()
            throw fail("tensor \(name): \(error)")
        }
        owned.append(p)
        return UnsafePointer(p)
    }

    deinit { for p in owned { p.deallocate() } }
}
