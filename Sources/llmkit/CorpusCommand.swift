// llmkit corpus collect: a plain-text training corpus from folders of documents and code — Markdown/text/rst
// whole, comments and docstrings of code (see Sources/Finetune/Data/CorpusCollector.swift for the rules).
// Prints the documents per kind, characters, distinct characters and what was skipped.
import ArgumentParser
import Finetune
import Formats
import Foundation

struct CorpusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "corpus", abstract: "Build training corpora.", subcommands: [CorpusCollect.self])
}

struct CorpusCollect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collect",
        abstract: "Collect docs and code comments from folders into one text file.",
        discussion: """
            Takes .md/.markdown/.mdx/.txt/.text/.rst files whole and the comments (and Python docstrings) of C/C++/ObjC, \
            Go, Swift, JS/TS, Python and Vue files. Skips hidden, vendored and build folders, symlink loops, binary and \
            non-UTF-8 files, and exact duplicates. Documents are written in sorted path order, separated by a blank line.
            A glob without '/' matches file names, one with '/' the path under DIR (`**` crosses folders).
            """)

    @Argument(help: "Folders (or files) to collect from.") var dirs: [String]
    @Option(name: .shortAndLong, help: "Output text file.") var output: String
    @Option(help: "Keep only files matching this glob (repeatable).") var include: [String] = []
    @Option(help: "Skip files and folders matching this glob (repeatable).") var exclude: [String] = []
    @Option(help: "Skip documents shorter than this many characters.") var minChars = 1
    @Option(help: "Text between documents (escapes \\n and \\t understood).") var separator = "\\n\\n"

    func run() throws {
        let sep = separator.replacingOccurrences(of: "\\n", with: "\n").replacingOccurrences(of: "\\t", with: "\t")
        do {
            let (text, stats) = try CorpusCollector.collect(dirs, options: CorpusOptions(include: include, exclude: exclude,
                                                                                          minCharacters: minChars, separator: sep))
            guard stats.totalDocuments > 0 else { throw FinetuneError.data(file: dirs.joined(separator: " "), message: "no documents found") }
            try AtomicOutput.write(Array(text.utf8), to: output)
            let kinds = stats.documents.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            print("documents: \(stats.totalDocuments) (\(kinds))")
            print("characters: \(stats.characters) (\(stats.bytes) bytes), distinct characters: \(stats.distinctCharacters)")
            let skipped = stats.skipped.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            print("skipped: \(skipped.isEmpty ? "none" : skipped)")
            print("wrote \(output)")
        } catch { fail(error) }
    }
}
