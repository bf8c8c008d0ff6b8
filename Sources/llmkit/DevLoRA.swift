// llmkit dev lora-convert: an adapter from one file format to the other (PEFT folder ⇄ GGUF LoRA), as llama.cpp's
// convert_lora_to_gguf.py does one way; the base GGUF gives the head counts for the q/k row order.
import ArgumentParser
import Foundation
import Formats

struct DevLoRAConvert: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lora-convert",
        abstract: "Convert a LoRA adapter between PEFT (folder) and GGUF LoRA (.gguf output).")

    @Argument(help: "Adapter: PEFT folder or adapter_model.safetensors, or a GGUF LoRA.") var adapter: String
    @Option(help: "Base GGUF (head counts, and the adapter is checked against it).") var base: String
    @Option(name: [.customShort("o"), .long], help: "Output: a .gguf file, or a folder for PEFT.") var output: String

    func run() throws {
        do {
            let g = try GGUFFile(path: base)
            let ad = try LoRAAdapter.read(path: adapter, base: g)
            try ad.validate(base: g)
            if output.hasSuffix(".gguf") {
                try ad.writeGGUF(path: output)
            } else {
                let (h, kv) = try LoRAAdapter.headCounts(g)
                try ad.writePEFT(directory: output, heads: h, kvHeads: kv)
            }
            print("\(ad.pairs.count) LoRA pairs written to \(output)")
        } catch { fail(error) }
    }
}
