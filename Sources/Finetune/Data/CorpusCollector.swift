// CorpusCollector: a plain-text training corpus from folders of documents and code (`llmkit corpus collect`).
//
// What is taken, per file (by extension):
//   - prose, whole: Markdown (.md .markdown .mdx), text (.txt .text), reStructuredText (.rst);
//   - code, its comments and docstrings only (CommentExtractor): C/C++/Objective-C, Go, Swift, JS/TS, Python, Vue.
// What is skipped (and counted): folders that are vendored, built or hidden (.git, node_modules, vendor, .build,
// build, dist, target, __pycache__, .venv*, any name starting with '.'); symlinks that lead back into a folder
// being walked (loops) or to something already walked; files with NUL bytes (binary) or invalid UTF-8; other
// extensions; files excluded by the globs; documents shorter than `minCharacters` (a code file without comments
// is empty); exact duplicates of an earlier document (same text after extraction).
// Order: the DIR arguments as given, each walked depth-first with entries sorted by name (byte order), so the
// output is the same on every run. A DIR argument may also be a single file.
// Output: documents in that order, each with trailing white space removed, joined by `separator` (default a
// blank line, "\n\n"), ending with one "\n". CRLF line ends become LF, a leading BOM is dropped. Characters are
// counted as Unicode scalars (as Python's len and the char tokenizer count them).
// Globs: `*` any run of characters but '/', `**` any run including '/', `?` one character, `[abc]`/`[a-z]`/`[!x]`
// a class. A glob without '/' is matched against the file name, one with '/' against the path relative to the
// DIR argument. --include (if any) keeps only matching files; --exclude drops matching files and folders (a folder also matches as
// "path/", so "docs/**" drops the folder docs).

import Foundation
import Formats

public struct CorpusOptions: Sendable {
    public var include: [String] = []
    public var exclude: [String] = []
    public var minCharacters = 1
    public var separator = "\n\n"
    public init(include: [String] = [], exclude: [String] = [], minCharacters: Int = 1, separator: String = "\n\n") {
        self.include = include
        self.exclude = exclude
        self.minCharacters = minCharacters
        self.separator = separator
    }
}

/// What a collection took and skipped.
public struct CorpusStats: Sendable, Equatable {
    /// Documents kept per kind ("markdown", "text", "rst", "c", "go", "swift", "javascript", "python", "vue").
    public var documents: [String: Int] = [:]
    /// Unicode scalars and UTF-8 bytes of the output.
    public var characters = 0
    public var bytes = 0
    public var distinctCharacters = 0
    /// Skipped counts by reason ("binary", "invalid UTF-8", "duplicate", "too short", "unsupported extension",
    /// "excluded", "not included", "ignored folder", "symlink loop", "unreadable").
    public var skipped: [String: Int] = [:]
    public var totalDocuments: Int { documents.values.reduce(0, +) }
}

public enum CorpusCollector {
    public static let ignoredFolders: Set<String> = ["node_modules", "vendor", "build", "dist", "target", "__pycache__"]
    static let proseKinds: [String: String] = ["md": "markdown", "markdown": "markdown", "mdx": "markdown", "txt": "text",
                                               "text": "text", "rst": "rst"]

    /// The corpus text of `roots` and what was taken and skipped. Throws for a root that does not exist.
    public static func collect(_ roots: [String], options: CorpusOptions = CorpusOptions()) throws -> (text: String, stats: CorpusStats) {
        var stats = CorpusStats()
        var seen = Set<String>()
        var docs: [String] = []
        var visited = Set<FileID>()
        for root in roots {
            for f in try files(of: root, options: options, visited: &visited, stats: &stats) {
                let rel = f.rel.isEmpty ? (root as NSString).lastPathComponent : f.rel
                guard let (kind, doc) = read(f.path, rel: rel, options: options, stats: &stats) else { continue }
                guard doc.unicodeScalars.count >= max(options.minCharacters, 1) else { stats.skipped["too short", default: 0] += 1; continue }
                guard seen.insert(doc).inserted else { stats.skipped["duplicate", default: 0] += 1; continue }
                docs.append(doc)
                stats.documents[kind, default: 0] += 1
            }
        }
        let text = docs.isEmpty ? "" : docs.joined(separator: options.separator) + "\n"
        stats.characters = text.unicodeScalars.count
        stats.bytes = text.utf8.count
        var distinct = Set<Unicode.Scalar>()
        for u in text.unicodeScalars { distinct.insert(u) }
        stats.distinctCharacters = distinct.count
        return (text, stats)
    }

    struct FileID: Hashable { let dev: UInt64; let ino: UInt64 }

    /// The files of one DIR argument: a folder's (see `walk`), or a file itself with rel "". Throws when it does not exist.
    static func files(of root: String, options: CorpusOptions, visited: inout Set<FileID>,
                      stats: inout CorpusStats) throws -> [(path: String, rel: String)] {
        var st = stat()
        guard stat(root, &st) == 0 else { throw FinetuneError.data(file: root, message: "no such file or folder") }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { return [(root, "")] }
        var files: [(path: String, rel: String)] = []
        var active = Set<FileID>()
        walk(root, rel: "", options: options, visited: &visited, active: &active, files: &files, stats: &stats)
        return files
    }

    /// Files under `dir` (depth-first, sorted names), skipping ignored folders and symlink loops.
    static func walk(_ dir: String, rel: String, options: CorpusOptions, visited: inout Set<FileID>, active: inout Set<FileID>,
                     files: inout [(path: String, rel: String)], stats: inout CorpusStats) {
        var st = stat()
        guard stat(dir, &st) == 0 else { stats.skipped["unreadable", default: 0] += 1; return }
        let id = FileID(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino))
        if active.contains(id) || visited.contains(id) { stats.skipped["symlink loop", default: 0] += 1; return }
        visited.insert(id)
        active.insert(id)
        defer { active.remove(id) }
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else {
            stats.skipped["unreadable", default: 0] += 1
            return
        }
        for name in names.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
            let path = dir.hasSuffix("/") ? dir + name : dir + "/" + name
            let r = rel.isEmpty ? name : rel + "/" + name
            var est = stat()
            guard stat(path, &est) == 0 else { stats.skipped["unreadable", default: 0] += 1; continue }  // dangling link
            if (est.st_mode & S_IFMT) == S_IFDIR {
                if name.hasPrefix(".") || ignoredFolders.contains(name) { stats.skipped["ignored folder", default: 0] += 1; continue }
                if options.exclude.contains(where: { globMatches($0, path: r, name: name) || globMatches($0, path: r + "/", name: name) }) {
                    stats.skipped["excluded", default: 0] += 1
                    continue
                }
                walk(path, rel: r, options: options, visited: &visited, active: &active, files: &files, stats: &stats)
            } else if (est.st_mode & S_IFMT) == S_IFREG {
                let fid = FileID(dev: UInt64(est.st_dev), ino: UInt64(est.st_ino))
                if visited.contains(fid) { stats.skipped["symlink loop", default: 0] += 1; continue }  // a second link to a file
                visited.insert(fid)
                files.append((path, r))
            }
        }
    }

    /// The document of one file and its kind, or nil (skipped, counted).
    static func read(_ path: String, rel: String, options: CorpusOptions, stats: inout CorpusStats) -> (String, String)? {
        let name = (rel as NSString).lastPathComponent
        let ext = name.contains(".") ? String(name[name.index(after: name.lastIndex(of: ".")!)...]).lowercased() : ""
        let prose = proseKinds[ext]
        let lang = SourceLanguage.of(fileName: name)
        guard prose != nil || lang != nil else { stats.skipped["unsupported extension", default: 0] += 1; return nil }
        if !options.include.isEmpty && !options.include.contains(where: { globMatches($0, path: rel, name: name) }) {
            stats.skipped["not included", default: 0] += 1
            return nil
        }
        if options.exclude.contains(where: { globMatches($0, path: rel, name: name) }) { stats.skipped["excluded", default: 0] += 1; return nil }
        guard let data = FileManager.default.contents(atPath: path) else { stats.skipped["unreadable", default: 0] += 1; return nil }
        if data.contains(0) { stats.skipped["binary", default: 0] += 1; return nil }
        guard var text = String(validating: data, as: UTF8.self) else { stats.skipped["invalid UTF-8", default: 0] += 1; return nil }
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        text = text.replacingOccurrences(of: "\r\n", with: "\n")
        if let prose {
            return (prose, trimDocument(text))
        }
        return (lang!.rawValue, trimDocument(CommentExtractor.document(from: text, language: lang!)))
    }

    /// Trailing white space of each line and leading/trailing blank lines removed.
    static func trimDocument(_ t: String) -> String {
        let lines = t.split(separator: "\n", omittingEmptySubsequences: false).map { l -> Substring in
            var e = l
            while let last = e.last, last == " " || last == "\t" || last == "\r" { e = e.dropLast() }
            return e
        }
        var a = lines[...]
        while a.first?.isEmpty == true { a = a.dropFirst() }
        while a.last?.isEmpty == true { a = a.dropLast() }
        return a.joined(separator: "\n")
    }

    /// Whether `glob` matches a file: against `name` if the glob has no '/', else against `path`.
    public static func globMatches(_ glob: String, path: String, name: String) -> Bool {
        let g = Array(glob.unicodeScalars)
        return glob.contains("/") ? match(g[...], Array(path.unicodeScalars)[...]) : match(g[...], Array(name.unicodeScalars)[...])
    }

    static func match(_ g: ArraySlice<Unicode.Scalar>, _ s: ArraySlice<Unicode.Scalar>) -> Bool {
        guard let c = g.first else { return s.isEmpty }
        switch c {
        case "*":
            if g.dropFirst().first == "*" {
                var rest = g.dropFirst(2)
                if rest.first == "/" {  // "**/" also matches no folder at all
                    if match(rest.dropFirst(), s) { return true }
                }
                rest = g.dropFirst(2)
                for k in s.startIndex...s.endIndex where match(rest, s[k...]) { return true }
                return false
            }
            var k = s.startIndex
            while true {
                if match(g.dropFirst(), s[k...]) { return true }
                if k == s.endIndex || s[k] == "/" { return false }
                k += 1
            }
        case "?":
            guard let x = s.first, x != "/" else { return false }
            return match(g.dropFirst(), s.dropFirst())
        case "[":
            guard let x = s.first, let close = g.dropFirst(2).firstIndex(of: "]") else {
                return s.first == "[" && match(g.dropFirst(), s.dropFirst())
            }
            var body = g[(g.startIndex + 1)..<close]
            let negate = body.first == "!" || body.first == "^"
            if negate { body = body.dropFirst() }
            var hit = false
            var k = body.startIndex
            while k < body.endIndex {
                if k + 2 < body.endIndex, body[k + 1] == "-" {
                    if body[k].value <= x.value && x.value <= body[k + 2].value { hit = true }
                    k += 3
                } else {
                    if body[k] == x { hit = true }
                    k += 1
                }
            }
            return hit != negate && x != "/" && match(g[(close + 1)...], s.dropFirst())
        default:
            guard s.first == c else { return false }
            return match(g.dropFirst(), s.dropFirst())
        }
    }
}
