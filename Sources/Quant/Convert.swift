// Convert: Hugging Face Llama folders ⇄ GGUF, streamed tensor by tensor, row block by row block.
// HF → GGUF: rename, permute q/k rows for llama.cpp's rope layout, convert dtype (1-D and norm tensors
// stay F32, as llama.cpp's converter keeps them), add `rope_freqs.weight` for Llama 3 scaling.
// GGUF → HF: dequantize, un-permute q/k, write (sharded) safetensors and the config/tokenizer files.
// Peak memory is one output buffer (8 MB) plus the source pages of the tensor in flight, which are
// released as soon as each tensor is done.

import Dispatch
import Foundation
import Formats

/// The float encodings a converter writes.
public enum FloatType: String, Sendable, CaseIterable {
    case f32, f16, bf16

    public var ggml: GGMLType {
        switch self { case .f32: .f32; case .f16: .f16; case .bf16: .bf16 }
    }
    public var safetensors: SafetensorsDType {
        switch self { case .f32: .f32; case .f16: .f16; case .bf16: .bf16 }
    }
    public var size: Int { self == .f32 ? 4 : 2 }
    public var torchName: String {
        switch self { case .f32: "float32"; case .f16: "float16"; case .bf16: "bfloat16" }
    }
    /// `general.file_type` of a model that is mostly this type.
    public var fileType: UInt32 {
        switch self { case .f32: 0; case .f16: 1; case .bf16: 32 }
    }

    init?(ggml t: GGMLType) {
        switch t { case .f32: self = .f32; case .f16: self = .f16; case .bf16: self = .bf16; default: return nil }
    }

    /// Writes `n` floats in this encoding.
    @inline(__always)
    func encode(_ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, _ n: Int) {
        switch self {
        case .f32: dst.copyMemory(from: src, byteCount: 4 * n)
        case .f16: convertFloatToHalf(src, dst.assumingMemoryBound(to: UInt16.self), n)
        case .bf16:
            let d = dst.assumingMemoryBound(to: UInt16.self)
            for i in 0..<n { d[i] = floatToBF16(src[i]) }
        }
    }
}

/// A 2-D view of a source tensor: `rows` rows of `rowLength` elements of `type`, each `rowBytes` long.
struct RowSource: @unchecked Sendable {
    let base: UnsafeRawPointer
    let type: GGMLType
    let rows: Int
    let rowLength: Int
    let rowBytes: Int
    /// Output row → source row (the q/k permutation, or identity). It must map each aligned group of
    /// `group` rows onto the same group, so rows before a finished group are never read again.
    let sourceRow: @Sendable (Int) -> Int
    let group: Int
    /// The mapped file the rows live in and where they start in it, to give consumed pages back.
    let file: MappedFile?
    let fileOffset: Int

    init(base: UnsafeRawPointer?, type: GGMLType, rows: Int, rowLength: Int, group: Int = 1,
         sourceRow: @escaping @Sendable (Int) -> Int = { $0 }, file: MappedFile? = nil, fileOffset: Int = 0) {
        self.base = base ?? UnsafeRawPointer(bitPattern: 64)!  // empty tensors have no address; never read
        self.type = type; self.rows = rows; self.rowLength = rowLength
        self.rowBytes = type.byteCount(elements: rowLength)!
        self.sourceRow = sourceRow; self.group = max(1, group)
        self.file = file; self.fileOffset = fileOffset
    }
}

public enum Convert {
    public static let defaultThreads = max(1, ProcessInfo.processInfo.activeProcessorCount)
    /// Output block size: rows are converted this many bytes at a time, straight into the output buffer.
    static let blockBytes = 8 << 20

    /// Streams `src` into `sink` as `target`, rows converted in parallel in blocks that fit the output
    /// buffer. Rows are copied as bytes when the encodings already match. Source pages are released
    /// as soon as every row on them has been read, so resident memory stays at a few blocks.
    static func stream(_ src: RowSource, as target: FloatType, into sink: TensorSink, threads: Int) throws {
        let outRow = src.rowLength * target.size
        guard src.rows > 0, outRow > 0 else { return }
        let same = FloatType(ggml: src.type) == target
        let perBlock = max(1, blockBytes / outRow)
        let scratch = UncheckedBox(UnsafeMutablePointer<Float>.allocate(capacity: src.rowLength * max(threads, 1)))
        defer { scratch.value.deallocate() }
        // Rows longer than the output buffer (rare: a 1-D tensor of millions) go through a heap block.
        let heap = perBlock * outRow > sink.remaining || perBlock * outRow > blockBytes
            ? UnsafeMutableRawPointer.allocate(byteCount: perBlock * outRow, alignment: 64) : nil
        defer { heap?.deallocate() }
        src.file?.adviseSequential(src.fileOffset..<(src.fileOffset + src.rows * src.rowBytes))
        var row = 0, released = src.fileOffset  // absolute; pages below it are given back
        while row < src.rows {
            let n = min(perBlock, src.rows - row)
            let bytes = n * outRow
            let dst = UncheckedBox(try heap ?? sink.reserve(bytes).baseAddress!)
            let first = row
            let t = min(threads, n)
            try Parallel.run(t) { w in
                let buf = scratch.value + w * src.rowLength
                for r in (first + w * n / t)..<(first + (w + 1) * n / t) {
                    let s = src.base + src.sourceRow(r) * src.rowBytes
                    let d = dst.value + (r - first) * outRow
                    if same {
                        d.copyMemory(from: s, byteCount: outRow)
                    } else if src.type == .bf16 && target == .f16 {
                        convertBF16ToHalf(s, d, src.rowLength)
                    } else {
                        try Dequantize.row(src.type, s, buf, src.rowLength)
                        target.encode(buf, d, src.rowLength)
                    }
                }
            }
            if heap != nil { try sink.write(UnsafeRawBufferPointer(start: dst.value, count: bytes)) } else { sink.commit(count: bytes) }
            row += n
            if let file = src.file {
                let done = (row == src.rows ? row : row / src.group * src.group) * src.rowBytes
                file.release(released..<(src.fileOffset + done))
                // The page straddling the end is released next time (64 KiB is a multiple of every page size).
                released = max(released, (src.fileOffset + done) / 65536 * 65536)
            }
        }
    }

    // MARK: - HF → GGUF

    /// Converts the Hugging Face LlamaForCausalLM folder `dir` to a GGUF file at `output`.
    public static func huggingFaceToGGUF(directory dir: String, output: String, type: FloatType = .f16,
                                         threads: Int = defaultThreads, log: (String) -> Void = { _ in }) throws {
        var hp = try LlamaHyperparameters(configPath: dir + "/config.json")
        let ckpt = try SafetensorsCheckpoint(directory: dir)
        let dirName = URL(fileURLWithPath: dir).standardizedFileURL.lastPathComponent
        hp.name = dirName

        // Plan every tensor first: names, shapes, types, and checks, so bad input fails before writing.
        struct Plan { let spec: GGUFTensorSpec; let make: (TensorSink) throws -> Void }
        var plans: [Plan] = []
        if case let .llama3(f, lo, hi, old)? = hp.ropeScaling {
            let factors = LlamaHF.llama3RopeFactors(base: hp.ropeTheta, dim: hp.headDim, factor: f, lowFreqFactor: lo,
                                                    highFreqFactor: hi, originalContext: old)
            plans.append(Plan(spec: try GGUFTensorSpec(name: "rope_freqs.weight", type: .f32, dims: [factors.count]),
                              make: { try $0.write(contentsOf: factors) }))
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
        let optional: (String) -> Bool = { $0.hasSuffix(".bias") }
        for g in order where hfByGGUF[g] == nil && !optional(g) {
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
            let rowLength = t.shape.last ?? 1
            let rows = t.shape.count <= 1 ? 1 : t.shape.dropLast().reduce(1, *)
            let isNormLike = t.shape.count <= 1 || g.hasSuffix("_norm.weight")
            let out: FloatType = isNormLike ? .f32 : type
            let qkRows = t.shape.count <= 1 ? t.shape.first ?? 1 : rows
            let permute = role != .other
            let elemRows = permute && t.shape.count <= 1 ? qkRows : rows
            let elemLength = permute && t.shape.count <= 1 ? 1 : rowLength
            let spec = try GGUFTensorSpec(name: g, type: out.ggml, dims: t.shape.reversed())
            let data = file.data(of: t)
            let range = file.fileRange(of: t)
            plans.append(Plan(spec: spec, make: { sink in
                let perm: @Sendable (Int) -> Int
                if permute { perm = { LlamaHF.hfRow(forGGUFRow: $0, rows: elemRows, heads: heads) } } else { perm = { $0 } }
                let src = RowSource(base: data.baseAddress, type: srcType, rows: elemRows, rowLength: elemLength,
                                    group: permute ? elemRows / heads : 1, sourceRow: perm,
                                    file: file.file, fileOffset: range.lowerBound)
                try stream(src, as: out, into: sink, threads: threads)
            }))
        }

        var md = GGUFMetadata()
        md["general.architecture"] = .string("llama")
        md["general.type"] = .string("model")
        md["general.name"] = .string(dirName)
        for (k, v) in hp.ggufKeys().prefix(8) { md[k] = v }
        md["general.file_type"] = .uint32(type.fileType)
        for (k, v) in hp.ggufKeys().dropFirst(8) { md[k] = v }
        for (k, v) in try HFTokenizer.ggufKeys(directory: dir, vocabSize: hp.vocabSize, warn: { log("warning: " + $0) }) { md[k] = v }
        md["general.quantization_version"] = .uint32(2)

        let writer = try GGUFWriter(metadata: md, tensors: plans.map(\.spec))
        let total = plans.count
        try writer.write(to: output, progress: { i in
            let s = plans[i].spec
            log("[\(String(i + 1).leftPad(String(total).count))/\(total)] \(s.name.padding(toLength: 28, withPad: " ", startingAt: 0)) \(s.type.name.padding(toLength: 4, withPad: " ", startingAt: 0)) \(s.dims)")
        }, producer: { i, sink in try plans[i].make(sink) })
    }

    // MARK: - GGUF → HF

    /// Converts a llama GGUF to a Hugging Face folder at `dir`: config.json, generation_config.json,
    /// tokenizer.json, tokenizer_config.json and safetensors (sharded above `maxShardBytes`).
    /// `type` nil keeps F32/F16/BF16 tensors as they are and writes dequantized tensors as F32.
    public static func ggufToHuggingFace(gguf path: String, directory dir: String, type: FloatType? = nil,
                                         maxShardBytes: Int = 5_000_000_000, threads: Int = defaultThreads,
                                         log: (String) -> Void = { _ in }) throws {
        let g = try GGUFFile(path: path)
        let hp = try LlamaHyperparameters(gguf: g)
        // A vocabulary we cannot rebuild as tokenizer.json (SentencePiece) does not stop the weights.
        var tokenizerFiles: (tokenizer: JSON, config: JSON)? = nil
        do { tokenizerFiles = try HFTokenizer.huggingFaceFiles(from: g) } catch {
            log("warning: \(error); writing the weights and config.json without tokenizer.json")
        }

        struct Item { let spec: SafetensorsTensorSpec; let info: GGUFTensorInfo; let out: FloatType; let heads: Int? }
        var items: [Item] = []
        for t in g.tensors {
            guard let hf = try LlamaHF.hfName(t.name, file: path) else { continue }
            guard Dequantize.supports(t.type) else {
                throw FormatError.unsupported(file: path, what: "tensor \(t.name) of type \(t.type) (cannot dequantize it yet)")
            }
            let out = type ?? FloatType(ggml: t.type) ?? .f32
            let role = LlamaHF.role(ofGGUF: t.name)
            let heads: Int? = role == .q ? hp.headCount : role == .k ? hp.kvHeadCount : nil
            if let heads, t.shape[0] % heads != 0 || (t.shape[0] / heads) % 2 != 0 {
                throw FormatError.invalid(file: path, field: "\(t.name) rows", value: String(t.shape[0]),
                                          reason: "not a whole number of \(heads) heads of even size")
            }
            items.append(Item(spec: SafetensorsTensorSpec(name: hf, dtype: out.safetensors, shape: t.shape), info: t, out: out, heads: heads))
        }
        let twoD = items.filter { $0.info.dims.count >= 2 }.map(\.out)
        let dtype = (type ?? twoD.first ?? .f32)

        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let total = items.count
        var done = 0
        let files = try SafetensorsWriter.writeCheckpoint(
            directory: dir, tensors: items.map(\.spec), maxShardBytes: maxShardBytes,
            progress: { i in
                done += 1
                let it = items[i]
                log("[\(String(done).leftPad(String(total).count))/\(total)] \(it.spec.name.padding(toLength: 44, withPad: " ", startingAt: 0)) \(it.info.type.name) → \(it.out.rawValue) \(it.spec.shape)")
            },
            producer: { i, sink in
                let it = items[i], t = it.info
                let rows = t.dims.count <= 1 ? (it.heads != nil ? t.elementCount : 1) : t.rowCount
                let rowLength = t.dims.count <= 1 ? (it.heads != nil ? 1 : t.elementCount) : t.rowLength
                let perm: @Sendable (Int) -> Int
                if let heads = it.heads { perm = { LlamaHF.ggufRow(forHFRow: $0, rows: rows, heads: heads) } } else { perm = { $0 } }
                let src = RowSource(base: g.data(of: t).baseAddress, type: t.type, rows: rows, rowLength: rowLength,
                                    group: it.heads.map { rows / $0 } ?? 1, sourceRow: perm,
                                    file: g.file, fileOffset: g.fileRange(of: t).lowerBound)
                try stream(src, as: it.out, into: sink, threads: threads)
            })

        let write = { (name: String, json: JSON) in
            try AtomicOutput.write(Array((json.serialized(indent: 2) + "\n").utf8), to: dir + "/" + name)
        }
        try write("config.json", hp.configJSON(torchDtype: dtype.torchName))
        var gen: [(String, JSON)] = [("_from_model_config", .bool(true))]
        if let b = hp.bosTokenID { gen.append(("bos_token_id", .int(b))) }
        if let e = hp.eosTokenIDs.first { gen.append(("eos_token_id", .int(e))) }
        try write("generation_config.json", .object(gen))
        var written = files + ["config.json", "generation_config.json"]
        if let (tokenizer, tokenizerConfig) = tokenizerFiles {
            try AtomicOutput.write(Array(tokenizer.serialized().utf8), to: dir + "/tokenizer.json")
            try write("tokenizer_config.json", tokenizerConfig)
            written += ["tokenizer.json", "tokenizer_config.json"]
        }
        log("wrote \(written.joined(separator: ", "))")
    }
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
