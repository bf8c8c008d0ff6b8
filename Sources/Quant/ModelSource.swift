// ModelSource: a model as llama.cpp lays it out — GGUF metadata plus tensors that can be streamed row
// by row — whether it lives in a GGUF file or in a Hugging Face folder seen through the converter
// (renamed, q/k permuted, norms as F32). `llmkit convert` writes one with its nominal types;
// `llmkit quantize` writes one with the recipe's types, so an HF folder quantizes in one pass to the
// same bytes as convert-then-quantize.
import Foundation
import Formats

public struct SourceTensor: @unchecked Sendable {
    /// Name, dims (ggml order) and the type this tensor has in the GGUF (the nominal type: for an HF
    /// folder, the type `llmkit convert` would write).
    public let info: GGUFTensorInfo
    let rows: RowSource
}

public final class ModelSource: @unchecked Sendable {
    public var metadata: GGUFMetadata
    public let tensors: [SourceTensor]
    public let alignment: Int
    private let owners: [AnyObject]  // the mapped files (and computed buffers) the rows point into

    public var infos: [GGUFTensorInfo] { tensors.map(\.info) }

    /// The tensors of a GGUF file, as they are.
    public init(gguf g: GGUFFile) {
        metadata = g.metadata
        alignment = g.alignment
        tensors = g.tensors.map { t in
            SourceTensor(info: t, rows: RowSource(base: g.data(of: t).baseAddress, type: t.type, rows: t.rowCount,
                                                  rowLength: t.rowLength, file: g.file, fileOffset: g.fileRange(of: t).lowerBound))
        }
        owners = [g]
    }

    /// A Hugging Face LlamaForCausalLM folder as llama.cpp's converter would lay it out, with 2-D weights
    /// nominally of `type` (1-D and norm tensors F32).
    public init(huggingFace dir: String, type: FloatType = .f16, warn: (String) -> Void = { _ in }) throws {
        var hp = try LlamaHyperparameters(configPath: dir + "/config.json")
        let ckpt = try SafetensorsCheckpoint(directory: dir)
        let dirName = URL(fileURLWithPath: dir).standardizedFileURL.lastPathComponent
        hp.name = dirName
        var owners: [AnyObject] = [ckpt]
        var tensors: [SourceTensor] = []

        if case let .llama3(f, lo, hi, old)? = hp.ropeScaling {
            let factors = LlamaHF.llama3RopeFactors(base: hp.ropeTheta, dim: hp.headDim, factor: f, lowFreqFactor: lo,
                                                    highFreqFactor: hi, originalContext: old)
            let buf = FloatBuffer(factors)
            owners.append(buf)
            tensors.append(SourceTensor(info: GGUFTensorInfo(name: "rope_freqs.weight", type: .f32, dims: [factors.count])!,
                                        rows: RowSource(base: UnsafeRawPointer(buf.pointer), type: .f32, rows: 1, rowLength: factors.count)))
        }
        var hfByGGUF: [String: String] = [:]
        for name in ckpt.names {
            if name == "lm_head.weight" && hp.tieWordEmbeddings { continue }
            guard let g = try LlamaHF.ggufName(name, file: dir) else { continue }
            hfByGGUF[g] = name
        }
        var order = ["token_embd.weight"]
        for i in 0..<hp.layerCount {
            order += ["attn_norm.weight", "attn_q.weight", "attn_q.bias", "attn_k.weight", "attn_k.bias", "attn_v.weight",
                      "attn_v.bias", "attn_output.weight", "attn_output.bias", "ffn_norm.weight", "ffn_gate.weight",
                      "ffn_up.weight", "ffn_down.weight"].map { "blk.\(i).\($0)" }
        }
        order += ["output_norm.weight"] + (hp.tieWordEmbeddings ? [] : ["output.weight"])
        for g in order where hfByGGUF[g] == nil && !g.hasSuffix(".bias") {
            let hf = (try? LlamaHF.hfName(g, file: dir)).flatMap { $0 } ?? g
            throw FormatError.missing(file: dir, field: "tensor \(hf)")
        }
        let known = Set(order)
        if let extra = hfByGGUF.keys.sorted().first(where: { !known.contains($0) }) {
            throw FormatError.unsupported(file: dir, what: "tensor \(hfByGGUF[extra]!) (beyond num_hidden_layers = \(hp.layerCount))")
        }
        let d = hp.headDim, h = hp.hiddenSize
        for g in order {
            guard let hf = hfByGGUF[g], let (file, t) = ckpt.tensor(named: hf) else { continue }
            guard let srcType = t.dtype.ggmlType, [.f32, .f16, .bf16].contains(srcType) else {
                throw FormatError.unsupported(file: file.path, what: "tensor \(hf) of dtype \(t.dtype) (expected F32, F16 or BF16)")
            }
            let role = LlamaHF.role(ofGGUF: g)
            let heads = role == .q ? hp.headCount : hp.kvHeadCount
            let component = g.split(separator: ".").dropFirst(g.hasPrefix("blk.") ? 2 : 0).first.map(String.init) ?? g
            var expect: [Int]? = nil
            if g.hasSuffix(".weight") {
                switch component {
                case "token_embd", "output": expect = [hp.vocabSize, h]
                case "attn_q": expect = [hp.headCount * d, h]
                case "attn_k", "attn_v": expect = [hp.kvHeadCount * d, h]
                case "attn_output": expect = [h, hp.headCount * d]
                case "ffn_gate", "ffn_up": expect = [hp.intermediateSize, h]
                case "ffn_down": expect = [h, hp.intermediateSize]
                case "attn_norm", "ffn_norm", "output_norm": expect = [h]
                default: break
                }
            }
            if let expect, t.shape != expect {
                throw FormatError.invalid(file: file.path, field: "\(hf).shape", value: "\(t.shape)", reason: "config.json implies \(expect)")
            }
            // Rows: the last HF axis is ggml's ne0. A permuted 1-D bias is a column of 1-element rows.
            let permute = role != .other
            let oneD = t.shape.count <= 1
            let rows = oneD ? (permute ? t.shape.first ?? 1 : 1) : t.shape.dropLast().reduce(1, *)
            let rowLength = oneD ? (permute ? 1 : t.shape.first ?? 1) : t.shape.last!
            let nominal: GGMLType = oneD || g.hasSuffix("_norm.weight") ? .f32 : type.ggml
            let perm: @Sendable (Int) -> Int
            if permute { perm = { LlamaHF.hfRow(forGGUFRow: $0, rows: rows, heads: heads) } } else { perm = { $0 } }
            let range = file.fileRange(of: t)
            tensors.append(SourceTensor(
                info: GGUFTensorInfo(name: g, type: nominal, dims: t.shape.reversed())!,
                rows: RowSource(base: file.data(of: t).baseAddress, type: srcType, rows: rows, rowLength: rowLength,
                                group: permute ? rows / heads : 1, sourceRow: perm, file: file.file,
                                fileOffset: range.lowerBound, via: nominal)))
        }

        var md = GGUFMetadata()
        md["general.architecture"] = .string("llama")
        md["general.type"] = .string("model")
        md["general.name"] = .string(dirName)
        for (k, v) in hp.ggufKeys().prefix(8) { md[k] = v }
        md["general.file_type"] = .uint32(type.fileType.rawValue)
        for (k, v) in hp.ggufKeys().dropFirst(8) { md[k] = v }
        for (k, v) in try HFTokenizer.ggufKeys(directory: dir, vocabSize: hp.vocabSize, warn: warn) { md[k] = v }
        md["general.quantization_version"] = .uint32(2)
        self.metadata = md
        self.tensors = tensors
        self.alignment = GGUFFile.defaultAlignment
        self.owners = owners
    }

    /// Writes a GGUF of these tensors converted to `types` (one per tensor, same order), streaming.
    /// With `finiteOnly`, converting into a quantized type refuses NaN/±inf.
    public func write(to path: String, types: [GGMLType], order: [Int]? = nil, threads: Int, finiteOnly: Bool = false,
                      progress: (Int) -> Void = { _ in }) throws {
        precondition(types.count == tensors.count)
        let order = order ?? Array(tensors.indices)
        let specs = try order.map { try GGUFTensorSpec(name: tensors[$0].info.name, type: types[$0], dims: tensors[$0].info.dims) }
        let writer = try GGUFWriter(metadata: metadata, tensors: specs, alignment: alignment)
        try writer.write(to: path, progress: { progress(order[$0]) }, producer: { i, sink in
            let k = order[i]
            let t = tensors[k], to = types[k]
            try Convert.stream(t.rows, as: to, into: sink, threads: threads,
                               finiteOnly: finiteOnly && to.isQuantized && to != t.info.type ? t.info.name : nil)
        })
    }
}

/// Floats kept alive for a RowSource that points at them.
final class FloatBuffer {
    let pointer: UnsafeMutablePointer<Float>
    init(_ values: [Float]) {
        pointer = .allocate(capacity: max(values.count, 1))
        pointer.initialize(from: values, count: values.count)
    }
    deinit { pointer.deallocate() }
}
