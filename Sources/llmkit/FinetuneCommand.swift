// llmkit finetune: LoRA adapters on a frozen, quantized base (QLoRA) over an SFT data file. The run itself is
// Finetune/Finetune/FinetuneSession.swift; the data formats Finetune/SFT/. This file parses options, opens (or
// quantizes) the base and writes the adapter files.
import ArgumentParser
import Finetune
import Formats
import Foundation
import Infer
import Quant
import Server

struct FinetuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finetune", abstract: "Train LoRA adapters on a frozen 4-bit (or any GGUF) base: QLoRA on the CPU.",
        discussion: """
            BASE is a GGUF (any weight type llmkit computes with, e.g. the Q4_K_M you serve) or a Hugging Face Llama \
            folder, quantized to Q4_K_M on load into OUT/base.gguf (reused on --resume). DATA: alpaca JSON/JSONL \
            (instruction, input, output), chat JSONL (messages; the last assistant message is the response), completion \
            JSONL (prompt, completion) or text (.txt, or JSONL with text). Loss is on response tokens only unless \
            --train-on-prompt. --packing concatenates examples into --max-seq rows (attention crosses example \
            boundaries, as TRL's basic packing). OUT gets adapter_config.json + adapter_model.safetensors (PEFT), \
            adapter.gguf (llama.cpp / Ollama LoRA), metrics.jsonl, summary.json, loss.svg and checkpoints/.
            """)

    @Argument(help: "Base model: a GGUF file or a Hugging Face folder (config.json + safetensors).") var base: String
    @Option(help: "Training data (alpaca, chat, completion or text).") var data: String
    @Option(help: "Validation data (same formats); its loss is the mean over response tokens.") var val: String?
    @Option(help: "Run folder (adapters/NAME).") var out: String
    @Flag(help: "Continue from the newest complete checkpoint in --out.") var resume = false

    @Option(help: "LoRA rank.") var rank = 8
    @Option(help: "LoRA alpha (scale alpha/rank).") var alpha: Float = 32
    @Option(help: "Dropout on the adapters' input.") var dropout: Float = 0.1
    @Option(help: "Adapted matrices: q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj or all-linear.") var targets = "q_proj,v_proj"
    @Flag(help: "rsLoRA scale alpha/√rank.") var useRslora = false

    @Option(help: "Epochs over the data.") var epochs = 3
    @Option(help: "Stop after this many optimizer steps (overrides --epochs).") var maxSteps: Int?
    @Option(help: "Examples (rows) per micro-batch.") var batchSize = 1
    @Option(help: "Micro-batches per optimizer step.") var gradAccum = 8
    @Option(help: "Peak learning rate.") var lr: Float = 3e-4
    @Option(help: "linear, cosine or constant (after warmup).") var lrScheduler = "linear"
    @Option(help: "Warmup steps.") var warmupSteps = 0
    @Option(help: "Warmup as a share of the steps (instead of --warmup-steps).") var warmupRatio: Double?
    @Option(help: "AdamW weight decay.") var weightDecay: Float = 0
    @Option(help: "Clip gradients to this global L2 norm (0: off).") var maxGradNorm: Float = 1.0
    @Option(help: "Tokens per example (longer ones are truncated; text is cut into pieces).") var maxSeq = 512
    @Flag(help: "Score the prompt tokens too.") var trainOnPrompt = false
    @Flag(help: "Pack examples into --max-seq rows.") var packing = false
    @Flag(help: "Recompute each block's activations in the backward pass (less memory).") var gradCheckpoint = false
    @Option(help: "Seed of everything random.") var seed: UInt64 = 42
    @Option(name: [.customShort("t"), .long], help: "Threads.") var threads = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Checkpoint every N steps.") var saveSteps = 100
    @Option(help: "Checkpoints to keep (plus the best).") var saveTotalLimit = 2
    @Option(help: "Log a metrics line every N steps.") var loggingSteps = 10
    @Option(help: "Validate every N steps (default: at the end only).") var evalSteps: Int?
    @Option(help: "Stop after this step with a checkpoint (continue later with --resume).") var stopAt: Int?

    func run() throws {
        do { try finetune() } catch { fail(error) }
    }

    func options() throws -> FinetuneOptions {
        var o = FinetuneOptions()
        let t: [String]
        do { t = try LoRATargets.parse(targets) } catch { throw FinetuneError.config("--targets: \(error)") }
        o.lora = LoRAConfig(rank: rank, alpha: alpha, dropout: dropout, targets: t, useRSLoRA: useRslora)
        o.epochs = epochs; o.maxSteps = maxSteps; o.batchSize = batchSize; o.gradAccum = gradAccum
        o.learningRate = lr; o.scheduler = lrScheduler; o.warmupSteps = warmupSteps; o.warmupRatio = warmupRatio
        o.weightDecay = weightDecay; o.gradClip = maxGradNorm; o.maxSeq = maxSeq; o.trainOnPrompt = trainOnPrompt
        o.packing = packing; o.gradCheckpoint = gradCheckpoint; o.seed = seed; o.threads = threads
        o.saveSteps = saveSteps; o.saveTotalLimit = saveTotalLimit; o.loggingSteps = loggingSteps; o.evalSteps = evalSteps
        o.stopAt = stopAt
        try o.validate()
        return o
    }

    /// The base as a GGUF: the file itself, or a Hugging Face folder quantized to Q4_K_M into the run folder.
    func baseGGUF() throws -> GGUFFile {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: base, isDirectory: &isDir) else { throw FinetuneError.data(file: base, message: "no such file or folder") }
        var path = base
        if isDir.boolValue {
            guard FileManager.default.fileExists(atPath: base + "/config.json") else {
                throw FinetuneError.data(file: base, message: "a folder without config.json: give a GGUF or a Hugging Face model folder")
            }
            path = out + "/base.gguf"
            if FileManager.default.fileExists(atPath: path) {
                printErr("finetune: using \(path) (quantized earlier from \(base))")
            } else {
                try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
                printErr("finetune: quantizing \(base) to Q4_K_M into \(path)")
                var q = QuantizeOptions(fileType: LlamaFileType(name: "q4_k_m")!)
                q.threads = max(1, threads)
                _ = try ModelQuantizer.quantize(input: base, output: path, options: q)
            }
        }
        do { return try GGUFFile(path: path) } catch { throw FinetuneError.data(file: path, message: "\(error)") }
    }

    func finetune() throws {
        let o = try options()
        let records = try SFTData.load(path: data)
        let valRecords = try val.map { try SFTData.load(path: $0) } ?? []
        let file = try baseGGUF()
        let tokenizer: any Tokenizer
        do { tokenizer = try Tokenizers.load(metadata: file.metadata) } catch { throw FinetuneError.data(file: file.path, message: "tokenizer: \(error)") }
        let prompt = try SFTPrompt(tokenizer: tokenizer, chatTemplate: file.metadata["tokenizer.chat_template"]?.string)
        guard let bytes = FileManager.default.contents(atPath: data) else { throw FinetuneError.data(file: data, message: "cannot read") }
        var digest = SHA256()
        digest.update(bytes)

        var heads = 0, kvHeads = 0
        let setup = FinetuneSetup(
            run: out, base: FinetuneBase(file), dataFile: data, dataSHA256: digest.finalizeHex(), records: records, validationFile: val,
            validationRecords: valRecords, prompt: prompt, options: o, resume: resume,
            makeModel: { rng in
                let m = try LoRALlamaModel(base: file, lora: o.lora, maxSequence: o.maxSeq, gradCheckpoint: o.gradCheckpoint, rng: &rng)
                heads = m.config.heads
                kvHeads = m.config.kvHeads
                return m
            },
            export: { adapter in
                try adapter.writePEFT(directory: out, heads: heads, kvHeads: kvHeads)
                try adapter.writeGGUF(path: out + "/adapter.gguf")
                return [out + "/adapter_config.json", out + "/adapter_model.safetensors", out + "/adapter.gguf"]
            },
            command: "llmkit " + CommandLine.arguments.dropFirst().map(TrainCommand.quoted).joined(separator: " "))
        let outcome = try FinetuneSession.run(setup, progress: { ProgressBar(total: $0, logEvery: o.loggingSteps) }, log: { printErr($0) })
        guard outcome.finished else { return }
        let s = outcome.state
        printErr(String(format: "finetune: %d steps, final loss %@, val loss %@; %.0f tokens/s, peak RSS %.0f MiB",
                        s.step, s.lastLoss.map { String(format: "%.4f", $0) } ?? "–",
                        outcome.finalValLoss.map { String(format: "%.4f", $0) } ?? "–",
                        Double(s.tokensSeen) / max(s.trainingSeconds, 1e-9), Double(outcome.peakRSSBytes) / 1_048_576))
        printErr("finetune: wrote " + outcome.files.joined(separator: ", "))
    }
}
