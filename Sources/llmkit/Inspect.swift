// llmkit inspect: metadata, tensor table and totals of a GGUF file, a safetensors file or an HF folder.
import ArgumentParser
import Foundation
import Formats

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a model file's metadata, tensors and totals.",
        discussion: """
            GGUF shapes are printed in ggml order (ne0 first, as llama.cpp prints them); safetensors shapes \
            in numpy order. --json prints everything, arrays in full.
            """)

    @Argument(help: "A .gguf file, a .safetensors file, or a Hugging Face folder.")
    var path: String

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    @Option(help: "Array elements to show per metadata value in the table.")
    var maxArray = 8

    func run() throws {
        do {
            let report = try ModelReport(path: path)
            print(json ? report.json().serialized(indent: 2) : report.text(maxArray: maxArray))
        } catch let e as FormatError {
            fail(e)
        }
    }
}
