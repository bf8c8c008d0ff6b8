import Foundation
import XCTest
@testable import Finetune

/// Extractors on hand-written sources with the traps each lexer must handle; ROUGE-L on hand-computed cases.
final class DatasetTests: XCTestCase {
    func go(_ src: String) -> [ExtractedExample] { DatasetExtractor.examples(in: src, language: "go", fileName: "h.go") }

    func testGoHandlersAreWholeAndRoutesFound() {
        let src = """
            package api

            // List lists items.
            func (h *Handler) List(c *gin.Context) {
            \ts := "}" + `}` + string('}') /* } */ // }
            \tc.JSON(200, s)
            }

            func Create(c echo.Context) error {
            \treturn c.NoContent(201)
            }

            func notAHandler(w io.Writer) { }

            // Shown is a net/http handler whose result type has braces.
            func Shown(w http.ResponseWriter, r *http.Request) (ok struct{}) {
            \treturn
            }

            func routes(r *gin.Engine, e *echo.Echo, m *mux.Router, h *Handler) {
            \tr.GET("/items", h.List)
            \te.POST("/items", Create)
            \tm.HandleFunc("/shown/{id}", http.HandlerFunc(Shown)).Methods("PUT")
            }
            """
        let ex = go(src)
        XCTAssertEqual(ex.map(\.line), [4, 9, 16])
        XCTAssertEqual(ex[0].instruction, "Write the Go HTTP handler List (a method on *Handler) for GET /items using gin.\n\nList lists items.")
        XCTAssertTrue(ex[0].output.hasSuffix("c.JSON(200, s)\n}"))
        XCTAssertEqual(ex[1].instruction, "Write the Go HTTP handler Create for POST /items using echo.")
        XCTAssertEqual(ex[2].instruction, "Write the Go HTTP handler Shown for PUT /shown/{id}.\n\nShown is a net/http handler whose result type has braces.")
        XCTAssertEqual(ex[2].output, "func Shown(w http.ResponseWriter, r *http.Request) (ok struct{}) {\n\treturn\n}")
        XCTAssertEqual(ex[2].input, "func Shown(w http.ResponseWriter, r *http.Request) (ok struct{})")
    }

    func testSwiftDocumentedFunctions() {
        let src = #"""
            /// Top.
            @discardableResult public static func top<T>(_ x: T) -> T where T: Equatable {
                let s = "}\(x)" + #"}"#
                /* nested /* } */ comment */
                return x
            }

            extension Foo.Bar {
                /** Op. */
                static func + (a: Bar, b: Bar) -> Bar { a }
                // Not a doc comment.
                func plain() {}
            }

            protocol P {
                /// Requirement.
                func req()
            }
            """#
        let ex = DatasetExtractor.examples(in: src, language: "swift", fileName: "a.swift")
        XCTAssertEqual(ex.map(\.instruction), ["Write the Swift function top.\n\nTop.", "Write the Swift function + in Foo.Bar.\n\nOp."])
        XCTAssertTrue(ex[0].output.hasPrefix("@discardableResult public static func top<T>") && ex[0].output.hasSuffix("return x\n}"))
        XCTAssertEqual(ex[1].output, "static func + (a: Bar, b: Bar) -> Bar { a }")
    }

    func testPythonDocstringsStayInOutput() {
        let src = """
            class C:
                @property
                def p(self):
                    '''Summary line
                    continues.

                    Details.
                    '''
                    x = '''
            not indented'''
                    return x  # trailing

                def nodoc(self):
                    return f"{1}"

            def g(): "one-line bodies are skipped"
            """
        let ex = DatasetExtractor.examples(in: src, language: "python", fileName: "m.py")
        XCTAssertEqual(ex.count, 1)
        XCTAssertEqual(ex[0].line, 2)
        XCTAssertEqual(ex[0].instruction, "Write the Python function p (a method of class C).\n\nSummary line continues.")
        XCTAssertEqual(ex[0].output.split(separator: "\n").first, "@property")
        XCTAssertTrue(ex[0].output.contains("'''Summary line") && ex[0].output.hasSuffix("return x"))
        XCTAssertTrue(ex[0].output.contains("\nnot indented'''"))
    }

    func testVueOptionsAPI() {
        let src = """
            <template><div>{{ title }}</div></template>
            <script>
            // Shows a title.
            export default defineComponent({
              name: "TitleBox",
              props: ['title', 'size'],
              emits: { close: null, 'resize': (n) => n > 0 },
            })
            </script>
            <i18n>{}</i18n>
            <style>div { color: red }</style>
            """
        let ex = DatasetExtractor.examples(in: src, language: "vue", fileName: "X.vue")
        XCTAssertEqual(ex.count, 1)
        XCTAssertEqual(ex[0].instruction, "Write the Vue single-file component TitleBox. Props: title, size. Emits: close, resize.\n\nShows a title.")
        XCTAssertFalse(ex[0].output.contains("i18n"))
        XCTAssertTrue(ex[0].output.hasPrefix("<template>") && ex[0].output.hasSuffix("</style>"))
    }

    func testRougeL() {
        // LCS of [the cat sat on the mat] and [the mat the cat sat] is "the cat sat" (3).
        let r = GenerationMetrics.rougeL(target: "The cat sat on the mat.", prediction: "the MAT, the cat sat")
        XCTAssertEqual(r.precision, 3.0 / 5.0)
        XCTAssertEqual(r.recall, 3.0 / 6.0)
        XCTAssertEqual(r.fmeasure, 2 * (3.0 / 5.0) * (3.0 / 6.0) / (3.0 / 5.0 + 3.0 / 6.0))
        XCTAssertEqual(GenerationMetrics.rougeTokens("İstanbul café_x2"), ["i", "stanbul", "caf", "x2"])
        XCTAssertEqual(GenerationMetrics.rougeL(target: "日本", prediction: "日本").fmeasure, 0)
        XCTAssertTrue(GenerationMetrics.exactMatch(target: " a\n", prediction: "a"))
        XCTAssertEqual(GenerationEval.codeOf("Here:\n```go\nfunc f() {}\n```\nDone"), "func f() {}\n")
    }

    func testSplitIsByFileAndSeeded() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dataset-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for k in 0..<20 {
            let body = (0..<3).map { "def f\(k)_\($0)():\n    \"\"\"Doc \($0).\"\"\"\n    return \(k * 10 + $0)\n" }.joined(separator: "\n")
            try body.write(to: dir.appendingPathComponent("m\(k).py"), atomically: true, encoding: .utf8)
        }
        let (train, val, stats) = try DatasetExtractor.extract([dir.path], options: DatasetOptions(valFraction: 0.2, seed: 3))
        XCTAssertEqual(train.count + val.count, 60)
        XCTAssertEqual(stats.valFiles + stats.trainFiles, 20)
        XCTAssertEqual(val.count, stats.valFiles * 3)
        let file = { (e: DatasetExample) in String(e.source.split(separator: ":")[0]) }
        XCTAssertTrue(Set(train.map(file)).isDisjoint(with: Set(val.map(file))))
        let again = try DatasetExtractor.extract([dir.path], options: DatasetOptions(valFraction: 0.2, seed: 3))
        XCTAssertEqual(again.val, val)
        let other = try DatasetExtractor.extract([dir.path], options: DatasetOptions(valFraction: 0.2, seed: 4))
        XCTAssertNotEqual(Set(other.val.map(file)), Set(val.map(file)))
    }
}
