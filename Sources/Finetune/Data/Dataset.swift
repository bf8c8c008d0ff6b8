// Dataset: instruction examples extracted from code (`llmkit dataset extract`), written as alpaca JSONL — one object
// per line, keys in this order: {"instruction", "input", "output", "source": "path:line", "lang"}.
// What is taken (one file per language says how): Go HTTP handlers (DatasetGo), Vue single-file components
// (DatasetVue), Swift functions with doc comments (DatasetSwift), Python functions with docstrings (DatasetPython).
// Walking: CorpusCollector's walk — the DIR arguments in order, entries sorted by name, hidden (.git …), vendored and
// build folders (vendor, node_modules, build, dist, target, __pycache__) and symlink loops skipped; files with a NUL
// byte (binary) or invalid UTF-8 skipped and counted. CRLF becomes LF, a leading BOM is dropped.
// source: the DIR argument's own folder name, then the path under it, then ":" and the 1-based line where the
// example starts (its first decorator / attribute / modifier / block), e.g. "api/handlers/users.go:42".
// Filters, in this order: --lang (languages kept), --max-chars (an example whose instruction + input + output exceed N
// characters is dropped, counted "too long"), duplicates (an output equal to an earlier one after white space runs
// are collapsed to one space: the first in walk order is kept, the rest counted).
// Held-out split (--val F): by file, so all examples of a file land on one side and near-duplicates within a file
// cannot leak. Files are taken in the order of FNV-1a-64("seed:<seed>\n" + their source path); a file goes to
// validation while validation holds fewer than F × (kept examples) examples and adding it brings the count closer to
// that target (a big file that would overshoot is passed over for smaller ones later in the order). With F > 0 and at
// least two files, at least one file is held out and at least one is kept for training.

import Foundation
import Formats

/// One example as an extractor finds it (its line is 1-based, in the file).
struct ExtractedExample: Equatable {
    var instruction: String
    var input: String
    var output: String
    var line: Int
}

public struct DatasetExample: Equatable, Sendable {
    public var instruction: String
    public var input: String
    public var output: String
    /// "path:line" (see the file header).
    public var source: String
    /// "go", "python", "swift" or "vue".
    public var lang: String

    public init(instruction: String, input: String, output: String, source: String, lang: String) {
        self.instruction = instruction
        self.input = input
        self.output = output
        self.source = source
        self.lang = lang
    }

    /// The example as one JSON line (no newline).
    public func jsonLine() -> String {
        JSON.object([("instruction", .string(instruction)), ("input", .string(input)), ("output", .string(output)),
                     ("source", .string(source)), ("lang", .string(lang))]).serialized()
    }
}

public struct DatasetOptions: Sendable {
    /// Languages to extract (a subset of DatasetExtractor.languages).
    public var languages: Set<String>
    /// Drop examples longer than this many characters (instruction + input + output), nil for no limit.
    public var maxCharacters: Int?
    /// Share of examples (by file) held out for validation, 0 for none.
    public var valFraction: Double
    public var seed: UInt64

    public init(languages: Set<String> = Set(DatasetExtractor.languages), maxCharacters: Int? = nil, valFraction: Double = 0, seed: UInt64 = 0) {
        self.languages = languages
        self.maxCharacters = maxCharacters
        self.valFraction = valFraction
        self.seed = seed
    }
}

/// What an extraction found, kept and skipped.
public struct DatasetStats: Sendable, Equatable {
    /// Files read per language, examples found per language, examples kept (after filters) per language.
    public var files: [String: Int] = [:]
    public var found: [String: Int] = [:]
    public var kept: [String: Int] = [:]
    public var duplicates = 0
    public var tooLong = 0
    /// Examples and files on the validation side.
    public var valExamples = 0
    public var valFiles = 0
    public var trainFiles = 0
    /// Files and folders skipped, by reason ("binary", "invalid UTF-8", "ignored folder", "symlink loop", "unreadable",
    /// "other extension", "language not selected").
    public var skipped: [String: Int] = [:]
    public var totalKept: Int { kept.values.reduce(0, +) }
}

public enum DatasetExtractor {
    public static let languages = ["go", "python", "swift", "vue"]
    static let extensions = ["go": "go", "py": "python", "swift": "swift", "vue": "vue"]

    /// The language of a file name (by extension), if it is one we extract from.
    public static func language(ofFile name: String) -> String? {
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return nil }
        return extensions[String(name[name.index(after: dot)...]).lowercased()]
    }

    /// The examples of one file's text. `routes` (Go) maps handler names to routes found elsewhere; the file's own
    /// registrations are added to them.
    static func examples(in text: String, language: String, fileName: String, routes: [String: String] = [:]) -> [ExtractedExample] {
        let bytes = Array(text.utf8)
        switch language {
        case "go":
            let v = TokenView(bytes, .go)
            var r = routes
            for (n, route) in GoHandlers.routes(v) where r[n] == nil { r[n] = route }
            return GoHandlers.extract(v, routes: r)
        case "swift": return SwiftFunctions.extract(TokenView(bytes, .swift))
        case "python": return PythonFunctions.extract(bytes)
        case "vue": return VueComponents.extract(bytes, fileName: fileName)
        default: return []
        }
    }

    /// The public form of `examples(in:…)` for one file's text: source is "NAME:line".
    public static func examples(in text: String, fileName: String) -> [DatasetExample] {
        guard let lang = language(ofFile: fileName) else { return [] }
        return examples(in: text, language: lang, fileName: fileName).map {
            DatasetExample(instruction: $0.instruction, input: $0.input, output: $0.output, source: "\(fileName):\($0.line)", lang: lang)
        }
    }

    /// Extracts from `roots` (folders or files) and splits into train and validation examples.
    public static func extract(_ roots: [String], options: DatasetOptions) throws -> (train: [DatasetExample], val: [DatasetExample], stats: DatasetStats) {
        for l in options.languages where !languages.contains(l) {
            throw FinetuneError.config("unknown language '\(l)' (known: \(languages.joined(separator: ", ")))")
        }
        guard options.valFraction >= 0 && options.valFraction < 1 else {
            throw FinetuneError.config("--val must be in [0, 1), not \(options.valFraction)")
        }
        if let m = options.maxCharacters, m < 1 { throw FinetuneError.config("--max-chars must be positive, not \(m)") }
        var stats = DatasetStats()
        var corpusStats = CorpusStats()
        // Files to read: (path on disk, source path, language).
        var files: [(path: String, source: String, lang: String)] = []
        var visited = Set<CorpusCollector.FileID>()
        for root in roots {
            let found = try CorpusCollector.files(of: root, options: CorpusOptions(), visited: &visited, stats: &corpusStats)
            let absolute = root.hasPrefix("/") ? root : FileManager.default.currentDirectoryPath + "/" + root
            let rootName = URL(fileURLWithPath: absolute).standardizedFileURL.lastPathComponent
            for f in found {
                let name = (f.path as NSString).lastPathComponent
                guard let lang = language(ofFile: name) else { stats.skipped["other extension", default: 0] += 1; continue }
                guard options.languages.contains(lang) else { stats.skipped["language not selected", default: 0] += 1; continue }
                files.append((f.path, f.rel.isEmpty ? rootName : rootName + "/" + f.rel, lang))
            }
        }
        for (k, n) in corpusStats.skipped { stats.skipped[k, default: 0] += n }

        // Read each file once; Go routes are gathered from every Go file before handlers are cut.
        var texts: [String?] = []
        var routes: [String: String] = [:]
        for f in files {
            guard let data = FileManager.default.contents(atPath: f.path) else { stats.skipped["unreadable", default: 0] += 1; texts.append(nil); continue }
            if data.contains(0) { stats.skipped["binary", default: 0] += 1; texts.append(nil); continue }
            guard var text = String(validating: data, as: UTF8.self) else { stats.skipped["invalid UTF-8", default: 0] += 1; texts.append(nil); continue }
            if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
            text = text.replacingOccurrences(of: "\r\n", with: "\n")
            texts.append(text)
            stats.files[f.lang, default: 0] += 1
            if f.lang == "go" {
                for (n, r) in GoHandlers.routes(TokenView(Array(text.utf8), .go)) where routes[n] == nil { routes[n] = r }
            }
        }

        var seen = Set<String>()
        var byFile: [(source: String, examples: [DatasetExample])] = []
        for (f, text) in zip(files, texts) {
            guard let text else { continue }
            var kept: [DatasetExample] = []
            for e in examples(in: text, language: f.lang, fileName: (f.path as NSString).lastPathComponent, routes: routes) {
                stats.found[f.lang, default: 0] += 1
                if let m = options.maxCharacters, e.instruction.count + e.input.count + e.output.count > m { stats.tooLong += 1; continue }
                guard seen.insert(oneLine(e.output)).inserted else { stats.duplicates += 1; continue }
                kept.append(DatasetExample(instruction: e.instruction, input: e.input, output: e.output, source: "\(f.source):\(e.line)", lang: f.lang))
                stats.kept[f.lang, default: 0] += 1
            }
            if !kept.isEmpty { byFile.append((f.source, kept)) }
        }

        // Split by file (see the header).
        let hashes = byFile.map { splitHash(source: $0.source, seed: options.seed) }
        var isVal = [Bool](repeating: false, count: byFile.count)
        if options.valFraction > 0 && byFile.count >= 2 {
            let target = options.valFraction * Double(stats.totalKept)
            var held = 0, files = 0
            for k in byFile.indices.sorted(by: { hashes[$0] < hashes[$1] }) {
                guard Double(held) < target, files < byFile.count - 1 else { break }
                let n = byFile[k].examples.count
                if Double(held + n) <= target || Double(held + n) - target < target - Double(held) {
                    isVal[k] = true
                    held += n
                    files += 1
                }
            }
            if files == 0, let k = byFile.indices.min(by: { hashes[$0] < hashes[$1] }) { isVal[k] = true }
        }
        var train: [DatasetExample] = [], val: [DatasetExample] = []
        for (k, f) in byFile.enumerated() {
            if isVal[k] { val += f.examples; stats.valFiles += 1 } else { train += f.examples; stats.trainFiles += 1 }
        }
        stats.valExamples = val.count
        return (train, val, stats)
    }

    /// FNV-1a 64 of "seed:<seed>\n<source>".
    public static func splitHash(source: String, seed: UInt64) -> UInt64 {
        var h: UInt64 = 0xcbf29ce484222325
        for b in "seed:\(seed)\n\(source)".utf8 {
            h ^= UInt64(b)
            h &*= 0x100000001b3
        }
        return h
    }

    /// Writes examples as JSONL (one object per line, "\n" after each), atomically.
    public static func write(_ examples: [DatasetExample], to path: String) throws {
        var text = ""
        for e in examples {
            text += e.jsonLine()
            text += "\n"
        }
        try AtomicOutput.write(Array(text.utf8), to: path)
    }
}
