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
    /// llama.cpp's file type (`general.file_type`) of a model that is mostly this type.
    public var fileType: LlamaFileType {
        switch self { case .f32: .f32; case .f16: .f16; case .bf16: .bf16 }
    }

    init?(ggml t: GGMLType) {
        switch t { case .f32: self = .f32; case .f16: self = .f16; case .bf16: self = .bf16; default: return nil }
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
    /// Round values through this type before writing another type: a BF16 source seen as the F16
    /// tensor a conversion would have made gives a quantizer the same floats that F16 file would.
    let via: GGMLType?

    init(base: UnsafeRawPointer?, type: GGMLType, rows: Int, rowLength: Int, group: Int = 1,
         sourceRow: @escaping @Sendable (Int) -> Int = { $0 }, file: MappedFile? = nil, fileOffset: Int = 0,
         via: GGMLType? = nil) {
        self.base = base ?? UnsafeRawPointer(bitPattern: 64)!  // empty tensors have no address; never read
        self.type = type; self.rows = rows; self.rowLength = rowLength
        self.rowBytes = type.byteCount(elements: rowLength)!
        self.sourceRow = sourceRow; self.group = max(1, group)
        self.file = file; self.fileOffset = fileOffset
        self.via = via == type ? nil : via
    }
}

public enum Convert {
    public static let defaultThreads = max(1, ProcessInfo.processInfo.activeProcessorCount)
    /// Output block size: rows are converted this many bytes at a time, straight into the output buffer.
    static let blockBytes = 8 << 20

    /// Streams `src` into `sink` as `target` (any type `Quantize` writes), rows converted in parallel in
    /// blocks that fit the output buffer. Rows are copied as bytes when the types already match. With
    /// `finiteOnly` a NaN or ±inf in the source is an error naming the tensor and row. Source pages
    /// are released as soon as every row on them has been read, so resident memory stays at a few blocks.
    static func stream(_ src: RowSource, as target: GGMLType, into sink: TensorSink, threads: Int,
                       finiteOnly tensorName: String? = nil) throws {
        guard let outRow = target.byteCount(elements: src.rowLength) else {
            throw QuantError.badLength(type: target.name, elements: src.rowLength, blockSize: target.blockSize)
        }
        guard src.rows > 0, outRow > 0 else { return }
        let same = src.type == target
        let perBlock = min(max(1, blockBytes / outRow), src.rows)
        let scratch = UncheckedBox(UnsafeMutablePointer<Float>.allocate(capacity: src.rowLength * max(threads, 1)))
        defer { scratch.value.deallocate() }
        // A row longer than the output buffer (rare: a 1-D tensor of millions) goes through a heap block.
        let heap = perBlock * outRow > blockBytes
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
                        if src.via == .f16 { for i in 0..<src.rowLength { buf[i] = halfToFloat(floatToHalf(buf[i])) } }
                        if src.via == .bf16 { for i in 0..<src.rowLength { buf[i] = bf16ToFloat(floatToBF16(buf[i])) } }
                        if let tensorName, let c = Quantize.firstNonFinite(buf, src.rowLength) {
                            throw QuantError.nonFinite(tensor: tensorName, row: src.sourceRow(r), column: c, value: buf[c])
                        }
                        try Quantize.row(target, buf, d, src.rowLength)
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
        let source = try ModelSource(huggingFace: dir, type: type, warn: { log("warning: " + $0) })
        let total = source.tensors.count
        try source.write(to: output, types: source.tensors.map(\.info.type), threads: threads, progress: { i in
            let t = source.tensors[i].info
            log("[\(String(i + 1).leftPadded(String(total).count, with: " "))/\(total)] \(t.name.padding(toLength: 28, withPad: " ", startingAt: 0)) \(t.type.name.padding(toLength: 4, withPad: " ", startingAt: 0)) \(t.dims)")
        })
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
                log("[\(String(done).leftPadded(String(total).count, with: " "))/\(total)] \(it.spec.name.padding(toLength: 44, withPad: " ", startingAt: 0)) \(it.info.type.name) → \(it.out.rawValue) \(it.spec.shape)")
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
                try stream(src, as: it.out.ggml, into: sink, threads: threads)
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
