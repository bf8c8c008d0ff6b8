// ModelQuantizer: `llmkit quantize` — a GGUF in, a GGUF of another mix out, as llama-quantize makes it:
// tensors in llama.cpp's order, each given its type by the recipe, converted row block by row block
// in parallel and streamed to the writer (peak memory: a few blocks, never a tensor or the model).
import Foundation
import Formats

public struct QuantizeOptions: Sendable {
    public var fileType: LlamaFileType
    public var threads = Convert.defaultThreads
    public var allowRequantize = false
    public var leaveOutputTensor = false
    public var pure = false
    public init(fileType: LlamaFileType) { self.fileType = fileType }
}

public struct QuantizedTensor: Sendable {
    public let name: String
    public let dims: [Int]
    public let from: GGMLType
    public let to: GGMLType
    public let bytesIn: Int
    public let bytesOut: Int
}

public enum ModelQuantizer {
    /// The per-tensor plan, in output order (llama.cpp's). Throws before any writing if a tensor cannot
    /// be converted (unsupported type, requantizing without permission) unless `checkSupport` is off.
    public static func plan(_ source: ModelSource, _ o: QuantizeOptions, checkSupport: Bool = true) throws -> [(index: Int, tensor: QuantizedTensor)] {
        var recipe = QuantRecipe(fileType: o.fileType, metadata: source.metadata, tensors: source.infos)
        recipe.leaveOutputTensor = o.leaveOutputTensor
        recipe.pure = o.pure
        let index = Dictionary(uniqueKeysWithValues: source.infos.enumerated().map { ($1.name, $0) })
        return try QuantRecipe.order(source.infos).map { t in
            let to = recipe.type(for: t)
            if to != t.type && checkSupport {
                if t.type.isQuantized && !o.allowRequantize {
                    throw QuantError.requantize(tensor: t.name, from: t.type.name, to: to.name)
                }
                guard Dequantize.supports(t.type) else { throw QuantError.unsupportedType(t.type.name, operation: "dequantization of \(t.name)") }
                guard Quantize.supports(to) else { throw QuantError.unsupportedType(to.name, operation: "quantization of \(t.name)") }
            }
            return (index[t.name]!, QuantizedTensor(name: t.name, dims: t.dims, from: t.type, to: to, bytesIn: t.byteCount,
                                                    bytesOut: to.byteCount(elements: t.elementCount)!))
        }
    }

    /// Opens a GGUF file or a Hugging Face folder as a model source.
    public static func source(_ input: String, warn: (String) -> Void = { _ in }) throws -> ModelSource {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: input, isDirectory: &isDir), isDir.boolValue {
            return try ModelSource(huggingFace: input, type: .f16, warn: warn)
        }
        return ModelSource(gguf: try GGUFFile(path: input))
    }

    /// Quantizes `input` (a GGUF, or an HF folder converted on the fly as `llmkit convert` would to F16)
    /// into `output`; `log` gets one line per tensor. Returns the plan it carried out.
    @discardableResult
    public static func quantize(input: String, output: String, options o: QuantizeOptions,
                                log: (String) -> Void = { _ in }) throws -> [QuantizedTensor] {
        let source = try source(input, warn: { log("warning: " + $0) })
        let plan = try plan(source, o)
        var md = source.metadata
        for k in ["split.no", "split.count", "split.tensors.count"] { md.remove(k) }
        // llama.cpp sets these two last (gguf_set_val removes the key and appends it).
        md.remove("general.quantization_version")
        md["general.quantization_version"] = .uint32(2)
        md.remove("general.file_type")
        md["general.file_type"] = .uint32(o.fileType.rawValue)
        source.metadata = md
        var types = source.infos.map(\.type)
        for p in plan { types[p.index] = p.tensor.to }
        let width = String(plan.count).count
        var position = [Int: Int]()
        for (k, p) in plan.enumerated() { position[p.index] = k }
        try source.write(to: output, types: types, order: plan.map(\.index), threads: o.threads, finiteOnly: true, progress: { i in
            let k = position[i]!, p = plan[k].tensor
            let dims = p.dims.map { String($0).leftPadded(6, with: " ") }.joined(separator: ", ")
            let action = p.from == p.to ? "size = \(mib(p.bytesIn))" : "converting to \(p.to.name.lowercased()) .. size = \(mib(p.bytesIn)) -> \(mib(p.bytesOut))"
            log("[\(String(k + 1).leftPadded(width, with: " "))/\(plan.count)] \(p.name.padding(toLength: 36, withPad: " ", startingAt: 0)) - [\(dims)], type = \(p.from.name.lowercased().leftPadded(6, with: " ")), \(action)")
        })
        return plan.map(\.tensor)
    }

    static func mib(_ n: Int) -> String { String(format: "%8.2f MiB", Double(n) / 1_048_576) }
}
