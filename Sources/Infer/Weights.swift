// Weights: typed, shape-checked views of a GGUF's tensors, used in place from the memory map (no copy). Matrices
// stay in their block type and are multiplied by Quant's MatMul; 1-D F32 tensors (norm weights, biases) are
// read directly; the rare 1-D tensor stored in another type is widened once into memory the model owns.
import Formats
import Quant

/// A weight matrix W (rows × cols, ggml layout: row r is the r-th output feature) with an optional bias.
struct Linear: @unchecked Sendable {
    let name: String
    let type: GGMLType
    let data: UnsafeRawPointer
    let rows: Int
    let cols: Int
    var bias: UnsafePointer<Float>? = nil

    /// Y (T × rows) = X (T × cols) · Wᵀ (+ bias).
    @inline(__always)
    func callAsFunction(_ x: UnsafePointer<Float>, _ T: Int, _ y: UnsafeMutablePointer<Float>, threads: Int) {
        MatMul.matmul(type, data, rows: rows, cols: cols, x: x, batch: T, y: y, threads: threads)
        if let bias {
            for t in 0..<T { Ops.add(y + t * rows, bias, n: rows) }
        }
    }

    /// Row `r` as F32 (embedding lookup).
    func row(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        let stride = type.byteCount(elements: cols)!
        try! Dequantize.row(type, data + r * stride, out, cols)  // type checked at load: dequantizable
    }

    var byteCount: Int { rows * type.byteCount(elements: cols)! }
}

/// Looks tensors up by GGUF name and checks their shapes; keeps the file mapped for the model's lifetime.
final class WeightLoader {
    let file: GGUFFile
    private(set) var owned: [UnsafeMutablePointer<Float>] = []

    init(_ file: GGUFFile) { self.file = file }

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
