// llmkit: the command-line front end. Each subcommand parses its options, calls the libraries, and
// prints; no model logic lives here.
import ArgumentParser
import Foundation
import Formats

@main
struct LLMKit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "llmkit",
        abstract: "Read, write, convert, quantize and run language models (GGUF, safetensors).",
        subcommands: [Inspect.self, ConvertCommand.self, QuantizeCommand.self, TokenizeCommand.self, RunCommand.self, ServeCommand.self, BenchCommand.self, PerplexityCommand.self, CorpusCommand.self, TokenizerCommand.self, EvalCommand.self, TrainCommand.self, FinetuneCommand.self, MergeCommand.self, Dev.self])
}

/// Prints an error on one line to stderr and exits non-zero (used by every subcommand).
func fail(_ error: Error) -> Never {
    FileHandle.standardError.write(Data("llmkit: error: \(error)\n".utf8))
    Foundation.exit(1)
}

func printErr(_ s: String) {
    FileHandle.standardError.write(Data((s + "\n").utf8))
}
