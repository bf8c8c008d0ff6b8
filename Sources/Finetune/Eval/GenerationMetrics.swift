// GenerationMetrics: how close a generated text is to a reference — ROUGE-L, exact match, and whether generated code
// parses — for `llmkit eval --data … .jsonl` and `llmkit compare`.
//
// ROUGE-L equals Google's `rouge-score` (`rouge_scorer.RougeScorer(['rougeL'])`, default tokenizer, no stemmer):
//   tokens: the text lowercased (full Unicode lowercasing, as Python's str.lower: "İ" → "i̇", the Kelvin sign → "k"),
//   every run of characters outside [a-z0-9] a separator, empty tokens dropped — so non-Latin text has no tokens.
//   LCS: the longest common subsequence of the token lists; precision = LCS / prediction tokens, recall = LCS /
//   reference tokens, F1 = 2·P·R / (P + R) in Double, in that order of operations; all three are 0 when either side
//   has no tokens or P + R = 0.
// Exact match: the two texts equal after white space and newlines are trimmed from both ends.
// Code parse share (CodeParser): the generated code of an example is written to a temporary file and given to the
// language's own parser — Go: `gofmt -e` reading the code on stdin (gofmt accepts a bare declaration or statement
// list only from stdin; a file must start with `package`), Swift: `swiftc -parse` with
// the code inside `class _ParseCheck { … }` (so a method's `static`/`override`/`class` modifiers parse as they do
// in their type; a function parses there as at top level), Python: `python3 -m py_compile`. A language whose tool is not on PATH, or that has no checker (Vue), is
// reported as skipped and never counted as parsed or failed.

import Foundation

public struct RougeScore: Equatable, Sendable {
    public var precision: Double
    public var recall: Double
    public var fmeasure: Double
}

public enum GenerationMetrics {
    /// rouge-score's default tokenization (tokenize.tokenize with no stemmer).
    public static func rougeTokens(_ text: String) -> [String] {
        var out: [String] = []
        var cur = String.UnicodeScalarView()
        for u in text.lowercased().unicodeScalars {
            if (u >= "a" && u <= "z") || (u >= "0" && u <= "9") {
                cur.append(u)
            } else if !cur.isEmpty {
                out.append(String(cur))
                cur = String.UnicodeScalarView()
            }
        }
        if !cur.isEmpty { out.append(String(cur)) }
        return out
    }

    /// Length of the longest common subsequence of two token lists (two DP rows).
    public static func lcsLength(_ a: [String], _ b: [String]) -> Int {
        guard !a.isEmpty && !b.isEmpty else { return 0 }
        var ids: [String: Int] = [:]
        let x = a.map { t -> Int in if let i = ids[t] { return i }; ids[t] = ids.count; return ids.count - 1 }
        let y = b.map { ids[$0] ?? -1 }
        var prev = [Int](repeating: 0, count: y.count + 1)
        var cur = prev
        for i in 0..<x.count {
            for j in 0..<y.count {
                cur[j + 1] = x[i] == y[j] ? prev[j] + 1 : max(prev[j + 1], cur[j])
            }
            swap(&prev, &cur)
        }
        return prev[y.count]
    }

    /// ROUGE-L of `prediction` against the reference `target` (rouge-score's argument order: target first).
    public static func rougeL(target: String, prediction: String) -> RougeScore {
        let t = rougeTokens(target), p = rougeTokens(prediction)
        guard !t.isEmpty && !p.isEmpty else { return RougeScore(precision: 0, recall: 0, fmeasure: 0) }
        let lcs = Double(lcsLength(t, p))
        let precision = lcs / Double(p.count)
        let recall = lcs / Double(t.count)
        let f = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
        return RougeScore(precision: precision, recall: recall, fmeasure: f)
    }

    /// Whether the texts are equal once white space and newlines are trimmed from both ends.
    public static func exactMatch(target: String, prediction: String) -> Bool {
        target.trimmingCharacters(in: .whitespacesAndNewlines) == prediction.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Checks whether code parses, with each language's own tool.
public final class CodeParser: @unchecked Sendable {
    public enum Outcome: Equatable, Sendable {
        case parsed
        case failed
        /// No checker for the language here (the reason names what is missing).
        case skipped(String)
    }

    /// Language → (tool, arguments before the file name, file extension).
    static let checkers: [String: (tool: String, args: [String], ext: String)] = [
        "go": ("gofmt", ["-e"], "go"),
        "swift": ("swiftc", ["-parse"], "swift"),
        "python": ("python3", ["-m", "py_compile"], "py"),
    ]

    private var resolved: [String: String?] = [:]
    private let lock = NSLock()

    public init() {}

    /// The full path of a tool on PATH, or nil.
    public static func which(_ tool: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") where !dir.isEmpty {
            let p = "\(dir)/\(tool)"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    /// Why `lang` cannot be checked here, or nil when it can.
    public func unavailable(_ lang: String) -> String? {
        guard let c = CodeParser.checkers[lang] else { return "no parser for \(lang.isEmpty ? "unknown language" : lang)" }
        return toolPath(c.tool) == nil ? "\(c.tool) not installed" : nil
    }

    func toolPath(_ tool: String) -> String? {
        lock.lock()
        defer { lock.unlock() }
        if let r = resolved[tool] { return r }
        let r = CodeParser.which(tool)
        resolved[tool] = r
        return r
    }

    /// Whether `code` in `lang` ("go", "swift", "python", …) parses.
    public func check(_ code: String, lang: String) -> Outcome {
        if let why = unavailable(lang) { return .skipped(why) }
        let c = CodeParser.checkers[lang]!
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("llmkit-parse-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        do {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let file = dir.appendingPathComponent("snippet.\(c.ext)")
            try Data((lang == "swift" ? "class _ParseCheck {\n\(code)\n}\n" : code).utf8).write(to: file)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: toolPath(c.tool)!)
            // gofmt takes fragments (a func without `package`) only on stdin.
            p.arguments = lang == "go" ? c.args : c.args + [file.path]
            if lang == "go" { p.standardInput = try FileHandle(forReadingFrom: file) }
            p.currentDirectoryURL = dir  // py_compile's __pycache__ and any swiftc output stay in the temp folder
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            p.waitUntilExit()
            return p.terminationStatus == 0 ? .parsed : .failed
        } catch {
            return .skipped("\(c.tool) could not run: \(error)")
        }
    }
}
