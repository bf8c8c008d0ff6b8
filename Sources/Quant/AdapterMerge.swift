// AdapterMerge: `llmkit merge` — a base GGUF plus LoRA adapters folded into one GGUF, W' = W + Σ s·scale·B·A.
// Streamed tensor by tensor: an adapted matrix is dequantized whole to F32 (one tensor in memory, never the model),
// gets its low-rank updates through BLAS, and is quantized again to its output type as it is written; every other
// tensor is copied (or converted row block by row block, when a new mix is asked for).
//
// Output types: without a file type each tensor keeps the base's type (adapted ones are requantized to it); with
// one, every tensor gets the type llama.cpp's recipe gives it for that mix (QuantRecipe), as `llmkit quantize`.
import Foundation
import Formats

public enum AdapterMerge {
    public struct Plan: Sendable {
        public let name: String
        public let dims: [Int]
        public let from: GGMLType
        public let to: GGMLType
        /// Whether an adapter changes this tensor.
        public let merged: Bool
    }

    /// Merges `adapters` (each with the user's multiplier) into the GGUF at `base`, writing `output` atomically.
    /// Returns the per-tensor plan it carried out, in output order.
    @discardableResult
    public static func merge(base: String, adapters: [(adapter: LoRAAdapter, scale: Float)], output: String,
                             fileType: LlamaFileType? = nil, threads: Int = Convert.defaultThreads,
                             log: (String) -> Void = { _ in }) throws -> [Plan] {
        let g = try GGUFFile(path: base)
        guard !adapters.isEmpty else { throw FormatError.missing(file: base, field: "an adapter to merge") }
        var byName: [String: [(pair: LoRAAdapter.Pair, s: Float)]] = [:]
        for (ad, s) in adapters {
            try ad.validate(base: g)
            for (n, p) in ad.pairs {
                if n == "token_embd.weight" { throw FormatError.unsupported(file: base, what: "merging LoRA into token_embd.weight") }
                byName[n, default: []].append((p, s * ad.scale(of: p)))
            }
        }
        let source = ModelSource(gguf: g)
        let infos = source.infos
        let ordered: [GGUFTensorInfo]
        var types: [String: GGMLType] = [:]
        if let fileType {
            ordered = QuantRecipe.order(infos)
            var recipe = QuantRecipe(fileType: fileType, metadata: g.metadata, tensors: infos)
            for t in ordered { types[t.name] = recipe.type(for: t) }
        } else {
            ordered = infos
            for t in infos { types[t.name] = t.type }
        }
        let index = Dictionary(uniqueKeysWithValues: infos.enumerated().map { ($1.name, $0) })
        let plan = ordered.map { t in Plan(name: t.name, dims: t.dims, from: t.type, to: types[t.name]!, merged: byName[t.name] != nil) }
        for p in plan where p.merged || p.from != p.to {
            guard Dequantize.supports(p.from) else { throw QuantError.unsupportedType(p.from.name, operation: "dequantization of \(p.name)") }
            guard Quantize.supports(p.to) else { throw QuantError.unsupportedType(p.to.name, operation: "quantization of \(p.name)") }
        }

        var md = g.metadata
        if let fileType {
            md.remove("general.quantization_version")
            md["general.quantization_version"] = .uint32(2)
            md.remove("general.file_type")
            md["general.file_type"] = .uint32(fileType.rawValue)
        }
        let specs = try plan.map { try GGUFTensorSpec(name: $0.name, type: $0.to, dims: $0.dims) }
        let writer = try GGUFWriter(metadata: md, tensors: specs, alignment: g.alignment)
        let width = String(plan.count).count
        try writer.write(to: output, progress: { i in
            let p = plan[i]
            let action = p.merged ? "merged, \(p.to.name.lowercased())" : p.from == p.to ? "copied" : "converted to \(p.to.name.lowercased())"
            log("[\(String(i + 1).leftPadded(width, with: " "))/\(plan.count)] \(p.name.padding(toLength: 28, withPad: " ", startingAt: 0)) \(p.from.name.lowercased().leftPadded(6, with: " ")) \(action)")
        }, producer: { i, sink in
            let p = plan[i]
            let src = source.tensors[index[p.name]!]
            guard let updates = byName[p.name] else {
                try Convert.stream(src.rows, as: p.to, into: sink, threads: threads,
                                   finiteOnly: p.to.isQuantized && p.to != p.from ? p.name : nil)
                return
            }
            // W (rows = out, cols = in) in F32, plus each update s·B·A.
            let rows = src.info.rowCount, cols = src.info.rowLength
            let w = UnsafeMutablePointer<Float>.allocate(capacity: max(1, rows * cols))
            defer { w.deallocate() }
            let wp = UncheckedBox(w)
            let rowBytes = src.rows.rowBytes, srcBase = src.rows.base, type = src.info.type
            let t = max(1, min(threads, rows))
            try Parallel.run(t) { k in
                for r in (k * rows / t)..<((k + 1) * rows / t) {
                    try Dequantize.row(type, srcBase + r * rowBytes, wp.value + r * cols, cols)
                }
            }
            g.file.release(g.fileRange(of: src.info))
            for (pair, s) in updates {
                pair.b.withUnsafeBufferPointer { B in
                    pair.a.withUnsafeBufferPointer { A in
                        BLAS.sgemm(m: rows, n: cols, k: pair.rank, alpha: s, B.baseAddress!, lda: pair.rank, A.baseAddress!, ldb: cols,
                                   beta: 1, w, ldc: cols)
                    }
                }
            }
            let merged = RowSource(base: UnsafeRawPointer(w), type: .f32, rows: rows, rowLength: cols)
            try Convert.stream(merged, as: p.to, into: sink, threads: threads, finiteOnly: p.name)
        })
        return plan
    }
}
