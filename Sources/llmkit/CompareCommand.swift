// llmkit compare: several models (a base, the base with an adapter, the tiny model …) on the same held-out
// examples — GenerationEval for each — written as a Markdown report with a table, an SVG bar chart (beside the
// report, same name with .svg) and sample outputs side by side (Sources/Finetune/Eval/CompareReport.swift).
import ArgumentParser
import Finetune
import Formats
import Foundation
import Infer

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare", abstract: "Compare models on the same held-out examples: a Markdown table, a chart, samples.",
        discussion: """
            --model NAME=PATH (a GGUF) or NAME=PATH+ADAPTER (the GGUF with a LoRA adapter: a PEFT folder or a GGUF \
            LoRA), repeated. Each model runs `llmkit eval --data` on the same examples: held-out loss, ROUGE-L, \
            exact match, code parse share, tokens/s.
            """)

    @Option(help: "Held-out examples (.jsonl/.json: alpaca, chat or completion).") var data: String
    @Option(help: "NAME=PATH or NAME=PATH+ADAPTER (repeatable).") var model: [String] = []
    @Option(name: .shortAndLong, help: "Markdown report to write (the chart goes beside it as .svg).") var output: String
    @Option(help: "Generate at most this many tokens per example.") var maxNewTokens = 256
    @Option(help: "Use only the first N examples.") var limit: Int?
    @Option(help: "Sample outputs shown side by side.") var samples = 5
    @Option(help: "Also write every model's full result (figures and samples) to this JSON file.") var jsonOut: String?
    @Option(help: "Threads.") var threads = ProcessInfo.processInfo.activeProcessorCount

    func run() throws {
        guard !model.isEmpty else { fail(FinetuneError.config("give at least one --model NAME=PATH")) }
        var specs: [(name: String, path: String, adapter: String?)] = []
        for m in model {
            guard let eq = m.firstIndex(of: "="), eq != m.startIndex, m.index(after: eq) != m.endIndex else {
                fail(FinetuneError.config("--model \(m): expected NAME=PATH or NAME=PATH+ADAPTER"))
            }
            let name = String(m[..<eq]), rest = String(m[m.index(after: eq)...])
            guard !specs.contains(where: { $0.name == name }) else { fail(FinetuneError.config("--model: the name \(name) is used twice")) }
            // PATH+ADAPTER, unless the whole text names an existing file (a path may contain '+').
            if !FileManager.default.fileExists(atPath: rest), let plus = rest.lastIndex(of: "+") {
                specs.append((name, String(rest[..<plus]), String(rest[rest.index(after: plus)...])))
            } else {
                specs.append((name, rest, nil))
            }
        }
        var results: [GenerationEvalResult] = []
        for s in specs {
            let m = loadModel(s.path, adapter: s.adapter)
            results.append(evaluateExamples(name: s.name, model: m, data: data, limit: limit, maxNewTokens: maxNewTokens,
                                            threads: threads, quiet: false))
            print(describe(results.last!))
        }
        let base = output.hasSuffix(".md") ? String(output.dropLast(3)) : output
        let chartPath = base + ".svg"
        let described = specs.map { (name: $0.name, description: $0.path + ($0.adapter.map { " + " + $0 } ?? "")) }
        let md = CompareReport.markdown(data: (data as NSString).lastPathComponent, models: described, results: results,
                                        maxNewTokens: maxNewTokens, chart: (chartPath as NSString).lastPathComponent, samples: samples)
        let svg = CompareReport.svg(names: specs.map(\.name), results: results, title: "Held-out examples: \((data as NSString).lastPathComponent)")
        do {
            try AtomicOutput.write(Array(svg.utf8), to: chartPath)
            try AtomicOutput.write(Array(md.utf8), to: output)
            if let jsonOut {
                let all = JSON.array(zip(specs, results).map { s, r in
                    r.json(extra: [("path", .string(s.path)), ("adapter", s.adapter.map { .string($0) } ?? .null), ("data", .string(data))])
                })
                try AtomicOutput.write(Array((all.serialized(indent: 2) + "\n").utf8), to: jsonOut)
            }
        } catch { fail(error) }
        print("wrote \(output) and \(chartPath)")
    }
}
