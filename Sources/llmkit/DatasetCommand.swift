// llmkit dataset extract: instruction/input/output examples (alpaca JSONL) from code — Go HTTP handlers, Vue
// single-file components, Swift functions with doc comments, Python functions with docstrings — deduplicated, with
// an optional held-out split by file (see Sources/Finetune/Data/Dataset.swift for the rules).
import ArgumentParser
import Finetune
import Foundation

struct DatasetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dataset", abstract: "Build fine-tuning datasets.", subcommands: [DatasetExtract.self])
}

struct DatasetExtract: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "extract",
        abstract: "Extract instruction examples from code into alpaca JSONL.",
        discussion: """
            Each line: {"instruction", "input", "output", "source": "path:line", "lang"}. Go: HTTP handlers (net/http, \
            gin, echo, fiber), whole; Vue: the component's template/script/style blocks; Swift: functions with /// or \
            /** */ doc comments; Python: functions with docstrings. Outputs equal up to white space are kept once. \
            --val holds out whole files (chosen by a seeded hash of their path). Hidden, vendor, node_modules and \
            build folders, binary and non-UTF-8 files are skipped.
            """)

    @Argument(help: "Folders (or files) to extract from.") var dirs: [String]
    @Option(name: .shortAndLong, help: "Output JSONL (training examples).") var output: String
    @Option(help: "Share of examples held out, by file (e.g. 0.1).") var val: Double = 0
    @Option(help: "Held-out JSONL (default: the output name with .val.jsonl).") var valOut: String?
    @Option(help: "Languages, comma-separated (go, vue, swift, python).") var lang = DatasetExtractor.languages.joined(separator: ",")
    @Option(help: "Drop examples longer than this many characters (instruction + input + output).") var maxChars: Int?
    @Option(help: "Seed of the held-out split.") var seed: UInt64 = 0

    func run() throws {
        let langs = Set(lang.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty })
        do {
            let opts = DatasetOptions(languages: langs, maxCharacters: maxChars, valFraction: val, seed: seed)
            let (train, held, stats) = try DatasetExtractor.extract(dirs, options: opts)
            guard stats.totalKept > 0 else { throw FinetuneError.data(file: dirs.joined(separator: " "), message: "no examples found") }
            let valPath = valOut ?? (output.hasSuffix(".jsonl") ? String(output.dropLast(6)) : output) + ".val.jsonl"
            try DatasetExtractor.write(train, to: output)
            if val > 0 { try DatasetExtractor.write(held, to: valPath) }
            func list(_ d: [String: Int]) -> String { DatasetExtractor.languages.filter { d[$0] != nil }.map { "\($0) \(d[$0]!)" }.joined(separator: ", ") }
            print("files: \(stats.files.values.reduce(0, +)) (\(list(stats.files)))")
            print("examples found: \(stats.found.values.reduce(0, +)) (\(list(stats.found)))")
            print("kept: \(stats.totalKept) (\(list(stats.kept))), duplicates: \(stats.duplicates), too long: \(stats.tooLong)")
            print("train: \(train.count) examples from \(stats.trainFiles) files → \(output)")
            if val > 0 { print("val: \(held.count) examples from \(stats.valFiles) files → \(valPath)") }
            let skipped = stats.skipped.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            print("skipped: \(skipped.isEmpty ? "none" : skipped)")
        } catch { fail(error) }
    }
}
