import Foundation
import XCTest
@testable import Finetune

final class CorpusTests: XCTestCase {
    static let go = """
        // Package demo does things.
        // It has two lines.
        package demo

        import "fmt"

        /* A block
           comment in Go. */
        func f() {
        \ts := "// not a comment"
        \tr := `raw /* not a comment */ string
        // still raw`
        \tc := '"' // trailing comment
        \tfmt.Println(s, r, c)
        }
        //go:generate stringer
        // -----------------

        """
    static let swift = #"""
        /// Doc comment for S.
        /// - Parameter x: a value
        struct S {
            /* outer /* nested */ still comment */
            let a = "/* not */ \(f("// nope")) end"
            let b = #"raw "// no" \(x) "#
            let c = """
                multi // no
                """
        }

        """#
    static let js = #"""
        // header
        const t = `template // no ${ a /* inner comment */ + `nested ${ "// no" }` } /* no */`;
        const re = /\/*[a-z]/g; // after regex
        /**
         * JSDoc block.
         * @param x thing
         */
        function g(x) { return x / 2 / 3; } // division
        let s: string = 'it\'s // no'; // eslint-disable-line

        """#
    static let python = #"""
        #!/usr/bin/env python3
        """Module docstring."""
        import os

        # A comment
        x = "# not a comment"
        y = '''also not
        # a comment'''


        class C:
            """Class doc."""

            def m(self, a,
                  b):
                """Method doc.

                More lines.
                """
                s = """not a docstring"""
                return s  # trailing

        """#
    static let vue = """
        <template>
          <!-- Template comment -->
          <div title="x">{{ msg }}</div>
        </template>
        <script setup lang="ts">
        // Script comment
        const msg = "<!-- not -->"
        </script>
        <style>
        /* style comment skipped */
        </style>

        """
    static let c = #"""
        #include <stdio.h>
        /* C block */
        int main(void) {
            const char *s = "/* no */ // no";
            char q = '\'';
            int n = 1'000; // digits
            const char *r = R"x(raw // no )" still )x";
            return 0; /* end */
        }

        """#

    func testCommentsPerLanguage() {
        XCTAssertEqual(CommentExtractor.comments(in: Self.go, language: .go),
                       ["Package demo does things.\nIt has two lines.", "A block\ncomment in Go.", "trailing comment"])
        XCTAssertEqual(CommentExtractor.comments(in: Self.swift, language: .swift),
                       ["Doc comment for S.\n- Parameter x: a value", "outer /* nested */ still comment"])
        XCTAssertEqual(CommentExtractor.comments(in: Self.js, language: .javascript),
                       ["header", "inner comment", "after regex", "JSDoc block.\n@param x thing", "division"])
        XCTAssertEqual(CommentExtractor.comments(in: Self.python, language: .python),
                       ["Module docstring.", "A comment", "Class doc.", "Method doc.\n\nMore lines.", "trailing"])
        XCTAssertEqual(CommentExtractor.comments(in: Self.vue, language: .vue), ["Template comment", "Script comment"])
        XCTAssertEqual(CommentExtractor.comments(in: Self.c, language: .c), ["C block", "digits", "end"])
    }

    func testIndentedLineCommentsKeepRelativeIndentation() {
        let src = "func f() {\n    // a\n    //   b\n    // c\n}\n"
        XCTAssertEqual(CommentExtractor.comments(in: src, language: .go), ["a\n  b\nc"])
        // A comment on the next line after a trailing comment starts a new block.
        XCTAssertEqual(CommentExtractor.comments(in: "x := 1 // one\n// two\n", language: .go), ["one", "two"])
    }

    func testSwiftMultilineRawStringAndInterpolationNesting() {
        let src = ##"""
            let a = #"""
                /* not */ "# still // not
                """#
            let b = "\("\("// deep")")" // real
            """##
        XCTAssertEqual(CommentExtractor.comments(in: src, language: .swift), ["real"])
    }

    // CodeLexer (under both the comment extractor and the dataset extractors): a comment between an operator and a
    // regex does not hide the operator, and code inside a template substitution tells regex from division by its own
    // tokens; comments inside substitutions are comments too.
    func testCodeLexerRegexAfterCommentAndInsideTemplates() {
        func tokens(_ src: String) -> [String] {
            let b = Array(src.utf8)
            return CodeLexer.tokens(b, .javascript).map { "\($0.kind) " + String(decoding: b[$0.start..<$0.end], as: UTF8.self) }
        }
        XCTAssertEqual(tokens("x = /* c */ /a}/g"), ["ident x", "punct =", "comment /* c */", "string /a}/g"])
        XCTAssertEqual(tokens("t = `${a / 2}` // c"), ["ident t", "punct =", "string `${a / 2}`", "comment // c"])
        let src = Array("s = `${ f(/* in */ 1) }` /* out".utf8)
        let comments = CodeLexer.comments(src, .javascript)
        XCTAssertEqual(comments.map { String(decoding: src[$0.start..<$0.end], as: UTF8.self) }, ["/* in */", "/* out"])
        XCTAssertEqual(comments.map(\.unclosed), [false, true])
    }

    // Unterminated strings, comments, templates and interpolations anywhere: every lexer ends and never crashes.
    func testLexersSurviveTokenSoup() {
        let pieces = ["/*", "*/", "//", "\"", "'", "`", "${", "}", "\\(", ")", "#", "\"\"\"", "'''", "#\"", "\"#", "R\"x(", ")x\"",
                      "<!--", "-->", "<script>", "</script>", "\n", " ", "a", "/", "\\", "é", "🙂", "def f():\n  ", "class C:\n"]
        var rng = TrainRNG(seed: 3)
        for _ in 0..<300 {
            let src = (0..<rng.below(80)).map { _ in pieces[rng.below(pieces.count)] }.joined()
            for lang in SourceLanguage.allCases {
                for block in CommentExtractor.comments(in: src, language: lang) { XCTAssertFalse(block.isEmpty) }
            }
        }
    }

    func testLanguageByExtension() {
        XCTAssertEqual(SourceLanguage.of(fileName: "a.tsx"), .javascript)
        XCTAssertEqual(SourceLanguage.of(fileName: "a.mjs"), .javascript)
        XCTAssertEqual(SourceLanguage.of(fileName: "x.hpp"), .c)
        XCTAssertEqual(SourceLanguage.of(fileName: "x.mm"), .c)
        XCTAssertNil(SourceLanguage.of(fileName: "x.png"))
        XCTAssertNil(SourceLanguage.of(fileName: ".go"))
    }

    func makeTree() throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("corpus-\(UUID().uuidString)")
        let fm = FileManager.default
        func put(_ rel: String, _ data: Data) throws {
            let u = root.appendingPathComponent(rel)
            try fm.createDirectory(at: u.deletingLastPathComponent(), withIntermediateDirectories: true)
            try data.write(to: u)
        }
        try put("README.md", Data("# Title\n\nSome text.  \n".utf8))
        try put("a.go", Data(Self.go.utf8))
        try put("b.swift", Data(Self.swift.utf8))
        try put("c.js", Data(Self.js.utf8))
        try put("d.py", Data(Self.python.utf8))
        try put("e.vue", Data(Self.vue.utf8))
        try put("f.c", Data(Self.c.utf8))
        try put("docs/copy.md", Data("# Title\n\nSome text.  \n".utf8))
        try put("docs/notes.txt", Data("Notes\r\nline two\n".utf8))
        try put("bin.txt", Data([0x61, 0x00, 0x62]))
        try put("bad.md", Data([0x61, 0xFF, 0x62]))
        try put("image.png", Data([0x89, 0x50]))
        try put("empty.go", Data("package x\n".utf8))
        try put("node_modules/m.md", Data("vendored".utf8))
        try put(".hidden/h.md", Data("hidden".utf8))
        try put("build/b.md", Data("built".utf8))
        try fm.createSymbolicLink(atPath: root.appendingPathComponent("docs/loop").path, withDestinationPath: "..")
        return root
    }

    func testCollectTreeWithSkipsDuplicatesAndOrder() throws {
        let root = try makeTree()
        defer { try? FileManager.default.removeItem(at: root) }
        let (text, stats) = try CorpusCollector.collect([root.path])
        let want = [
            "# Title\n\nSome text.",
            "Package demo does things.\nIt has two lines.\nA block\ncomment in Go.\ntrailing comment",
            "Doc comment for S.\n- Parameter x: a value\nouter /* nested */ still comment",
            "header\ninner comment\nafter regex\nJSDoc block.\n@param x thing\ndivision",
            "Module docstring.\nA comment\nClass doc.\nMethod doc.\n\nMore lines.\ntrailing",
            "Notes\nline two",
            "Template comment\nScript comment",
            "C block\ndigits\nend",
        ].joined(separator: "\n\n") + "\n"
        XCTAssertEqual(text, want)
        XCTAssertEqual(stats.documents, ["markdown": 1, "go": 1, "swift": 1, "javascript": 1, "python": 1, "text": 1, "vue": 1, "c": 1])
        XCTAssertEqual(stats.skipped, ["duplicate": 1, "binary": 1, "invalid UTF-8": 1, "unsupported extension": 1,
                                       "too short": 1, "ignored folder": 3, "symlink loop": 1])
        XCTAssertEqual(stats.characters, want.count)
        XCTAssertEqual(stats.distinctCharacters, Set(want.unicodeScalars).count)
        // Deterministic.
        XCTAssertEqual(try CorpusCollector.collect([root.path]).text, text)
    }

    func testGlobsAndMinChars() throws {
        let root = try makeTree()
        defer { try? FileManager.default.removeItem(at: root) }
        let md = try CorpusCollector.collect([root.path], options: CorpusOptions(include: ["*.md", "*.txt"]))
        XCTAssertEqual(md.text, "# Title\n\nSome text.\n\nNotes\nline two\n")
        let noDocs = try CorpusCollector.collect([root.path], options: CorpusOptions(include: ["*.md", "*.txt"], exclude: ["docs/**"]))
        XCTAssertEqual(noDocs.text, "# Title\n\nSome text.\n")
        XCTAssertEqual(noDocs.stats.skipped["excluded"], 1)  // the docs folder
        let long = try CorpusCollector.collect([root.path], options: CorpusOptions(include: ["*.md", "*.txt"], minCharacters: 16))
        XCTAssertEqual(long.text, "# Title\n\nSome text.\n")
        XCTAssertThrowsError(try CorpusCollector.collect([root.path + "/missing"]))
    }

    func testGlobMatcher() {
        XCTAssert(CorpusCollector.globMatches("*.md", path: "a/b/x.md", name: "x.md"))
        XCTAssertFalse(CorpusCollector.globMatches("a/*.md", path: "a/b/x.md", name: "x.md"))
        XCTAssert(CorpusCollector.globMatches("a/**/*.md", path: "a/b/x.md", name: "x.md"))
        XCTAssert(CorpusCollector.globMatches("a/**/*.md", path: "a/x.md", name: "x.md"))
        XCTAssert(CorpusCollector.globMatches("[a-c]?.go", path: "b1.go", name: "b1.go"))
        XCTAssertFalse(CorpusCollector.globMatches("[!a-c]?.go", path: "b1.go", name: "b1.go"))
    }
}
