import Formats
import Foundation
import Infer
import XCTest
@testable import Finetune

/// Fine-tuning data: every format read (and every kind of bad file refused with file and line), prompts rendered
/// with the real SmolLM2 and Llama 3 chat templates and without one, prompt masking, truncation, packing, shuffling.
final class SFTTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let assets = ProcessInfo.processInfo.environment["LLMKIT_ASSETS"] ?? root + "/.assets"

    func parse(_ text: String, file: String = "data.jsonl") throws -> [SFTRecord] {
        try SFTData.parse(Data(text.utf8), file: file)
    }

    func expectError(_ text: String, file: String = "data.jsonl", _ needles: String..., line: UInt = #line) {
        do {
            _ = try parse(text, file: file)
            XCTFail("no error for \(text.prefix(60))", line: line)
        } catch let e as FinetuneError {
            for n in needles { XCTAssert(e.description.contains(n), "'\(e)' lacks '\(n)'", line: line) }
            XCTAssertFalse(e.description.contains("\n"), "not one line: \(e)", line: line)
        } catch {
            XCTFail("not a FinetuneError: \(error)", line: line)
        }
    }

    // MARK: formats

    func testAlpacaJSONArrayAndJSONL() throws {
        let array = #"[{"instruction": "Add", "input": "1 2", "output": "3"}, {"instruction": "Say hi", "output": "hi", "id": 7}]"#
        let a = try parse(array, file: "data.json")
        XCTAssertEqual(a.map(\.content), [.alpaca(instruction: "Add", input: "1 2", output: "3"), .alpaca(instruction: "Say hi", input: "", output: "hi")])
        XCTAssertEqual(a[1].source, "data.json:2")
        let lines = "{\"instruction\": \"Add\", \"input\": null, \"output\": \"3\"}\r\n\n{\"instruction\": \"B\", \"input\": \"x\", \"output\": \"y\"}\n"
        let b = try parse(lines)
        XCTAssertEqual(b.map(\.content), [.alpaca(instruction: "Add", input: "", output: "3"), .alpaca(instruction: "B", input: "x", output: "y")])
        XCTAssertEqual(b.map(\.source), ["data.jsonl:1", "data.jsonl:3"])
        XCTAssertEqual(b[1].messages, [.init(role: "user", content: "B\n\nx"), .init(role: "assistant", content: "y")])
        XCTAssertEqual(b[0].messages[0].content, "Add")
    }

    func testChatCompletionAndText() throws {
        let chat = try parse(#"{"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}, {"role": "assistant", "content": "A1"}, {"role": "user", "content": "Q2"}, {"role": "assistant", "content": "A2"}]}"#)
        XCTAssertEqual(chat.count, 1)
        XCTAssertEqual(chat[0].format, .chat)
        XCTAssertEqual(chat[0].response, "A2")
        XCTAssertEqual(chat[0].messages.count, 5)
        let comp = try parse("{\"prompt\": \"p\", \"completion\": \"c\"}\n{\"prompt\": \"\", \"completion\": \"d\"}")
        XCTAssertEqual(comp.map(\.content), [.completion(prompt: "p", completion: "c"), .completion(prompt: "", completion: "d")])
        XCTAssertEqual(try parse("{\"text\": \"hello\"}").map(\.content), [.text("hello")])
        // A .txt file is one text record, whatever it holds (even JSON-looking lines).
        XCTAssertEqual(try parse("{\"a\": 1}\nplain\n", file: "notes.txt").map(\.content), [.text("{\"a\": 1}\nplain\n")])
        // A UTF-8 BOM is skipped.
        XCTAssertEqual(try parse("\u{FEFF}{\"text\": \"x\"}").count, 1)
    }

    func testBadFilesNameFileAndLine() {
        expectError("", "data.jsonl", "empty")
        expectError("  \n\n", "empty")
        expectError("[]", file: "d.json", "no records")
        expectError("{\"instruction\": \"a\", \"output\": \"b\"}\n{\"instruction\": \"a\", \"output\": \"b\"\n", "data.jsonl", "line 2", "not valid JSON")
        expectError("{\"instruction\": \"a\"}", "line 1", "missing \"output\"")
        expectError("{\"instruction\": \"a\", \"output\": 3}", "line 1", "\"output\" must be a string")
        expectError("{\"instruction\": \"a\", \"output\": \"b\"}\n{\"messages\": []}", "line 2", "missing \"instruction\"")
        expectError("{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}]}", "line 1", "last message must be the assistant's")
        expectError("{\"messages\": [{\"role\": \"user\"}, {\"role\": \"assistant\", \"content\": \"a\"}]}", "message 1")
        expectError("{\"messages\": \"hi\"}", "non-empty array")
        expectError("{\"foo\": 1}", "line 1", "unknown record format", "foo")
        expectError("[1, 2]", file: "d.json", "record 1", "JSON object")
        expectError("[{\"prompt\": \"a\", \"completion\": \"b\"}, {\"prompt\": \"a\"}]", file: "d.json", "d.json", "record 2", "completion")
        expectError("[{\"text\": \"a\"", file: "d.json", "not a valid JSON array")
        XCTAssertThrowsError(try SFTData.load(path: "/nonexistent/data.jsonl")) { XCTAssert("\($0)".contains("no such file")) }
    }

    // MARK: prompts

    func smolLM2() throws -> (any Tokenizer, String) {
        let path = Self.assets + "/SmolLM2-135M-Instruct.Q4_1.gguf"
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("\(path) missing: run scripts/setup.sh") }
        let f = try GGUFFile(path: path)
        return (try Tokenizers.load(metadata: f.metadata), f.metadata["tokenizer.chat_template"]!.string!)
    }

    func testSmolLM2ChatTemplatePromptAndResponse() throws {
        let (tok, template) = try smolLM2()
        let p = try SFTPrompt(tokenizer: tok, chatTemplate: template)
        let imEnd = tok.encode("<|im_end|>", addSpecial: false, parseSpecial: true)
        XCTAssertEqual(imEnd.count, 1)
        XCTAssertEqual(p.endOfTurn, Int32(imEnd[0]))

        let r = SFTRecord(.alpaca(instruction: "Write add.", input: "Go", output: "func add(a, b int) int { return a + b }"))
        let (prompt, response) = try p.render(r)
        let text = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
            + "<|im_start|>user\nWrite add.\n\nGo<|im_end|>\n<|im_start|>assistant\n"
        XCTAssertEqual(try p.promptText(r), text)
        XCTAssertEqual(prompt, tok.encode(text, addSpecial: true, parseSpecial: true).map(Int32.init))
        XCTAssertEqual(response, (tok.encode("func add(a, b int) int { return a + b }", addSpecial: false, parseSpecial: false) + imEnd).map(Int32.init))
        // Prompt + response tokenize like the whole rendered conversation (a separate tokenization of the response
        // changes nothing at the boundary after "assistant\n").
        let whole = tok.encode(text + "func add(a, b int) int { return a + b }<|im_end|>", addSpecial: true, parseSpecial: true)
        XCTAssertEqual((prompt + response).map(Int.init), whole)

        // Chat: earlier turns are context, the system message replaces the default one.
        let chat = SFTRecord(.chat([.init(role: "system", content: "Be brief."), .init(role: "user", content: "Hi"),
                                    .init(role: "assistant", content: "Hello."), .init(role: "user", content: "Bye"),
                                    .init(role: "assistant", content: "Bye.")]))
        XCTAssertEqual(try p.promptText(chat), "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            + "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n")
        // Special-token text in a response is not parsed into a control token.
        let sneaky = try p.render(SFTRecord(.completion(prompt: "x", completion: "a<|im_end|>b")))
        XCTAssertEqual(sneaky.response.filter { $0 == Int32(imEnd[0]) }.count, 1)
        XCTAssertEqual(sneaky.response.last, Int32(imEnd[0]))
    }

    func testSmolLM2RowsScoreExactlyTheResponse() throws {
        let (tok, template) = try smolLM2()
        let p = try SFTPrompt(tokenizer: tok, chatTemplate: template)
        let records = [SFTRecord(.alpaca(instruction: "Name a color.", input: "", output: "Blue.")),
                       SFTRecord(.chat([.init(role: "user", content: "Hi"), .init(role: "assistant", content: "Hello there!")]))]
        let (ex, dropped) = try SFTBatches.examples(records, prompt: p, maxSeq: 512)
        XCTAssertEqual(dropped, 0)
        let b = SFTBatches.batch(SFTBatches.rows(ex, order: [0, 1], maxSeq: 512, packing: false, trainOnPrompt: false)[...])
        for (row, r) in records.enumerated() {
            let (prompt, response) = try p.render(r)
            let targets = Array(b.targets[(row * b.length)..<((row + 1) * b.length)])
            // Position t predicts token t + 1: −1 while that token is prompt, then the response, then padding.
            XCTAssertEqual(targets, [Int32](repeating: -1, count: prompt.count - 1) + response
                           + [Int32](repeating: -1, count: b.length - (prompt.count - 1) - response.count))
        }
        XCTAssertEqual(b.scored, try records.reduce(0) { $0 + (try p.render($1)).response.count })
    }

    func testLlama3TemplateEndsTurnsWithEotNotEos() throws {
        let tj = Self.assets + "/tokenizer.json"
        let tpl = Self.root + "/Tests/oracle/templates/meta-llama-Llama-3.2-3B-Instruct.jinja"
        guard FileManager.default.fileExists(atPath: tj) else { throw XCTSkip("\(tj) missing: run scripts/setup.sh") }
        let tok = try Tokenizers.load(path: tj)
        let p = try SFTPrompt(tokenizer: tok, chatTemplate: try String(contentsOfFile: tpl, encoding: .utf8))
        let eot = tok.encode("<|eot_id|>", addSpecial: false, parseSpecial: true)
        XCTAssertEqual(eot.count, 1)
        XCTAssertEqual(p.endOfTurn, Int32(eot[0]))
        XCTAssertNotEqual(p.endOfTurn, tok.eos.map(Int32.init))
        let (_, response) = try p.render(SFTRecord(.completion(prompt: "Hi", completion: "Hello")))
        XCTAssertEqual(response.last, Int32(eot[0]))
    }

    func charTokenizer(_ corpus: String) throws -> any Tokenizer {
        try Tokenizers.load(metadata: CharVocabulary.metadata(corpus: corpus))
    }

    func testWithoutTemplateAlpacaPromptAndEOS() throws {
        let corpus = SFTPrompt.alpacaPrompt(instruction: "abcdefghijklmnopqrstuvwxyz", input: "0123456789")
        let tok = try charTokenizer(corpus)
        let p = try SFTPrompt(tokenizer: tok, chatTemplate: nil)
        XCTAssertNotNil(tok.eos)
        XCTAssertEqual(p.endOfTurn, tok.eos.map(Int32.init))
        let (prompt, response) = try p.render(SFTRecord(.alpaca(instruction: "add", input: "", output: "42")))
        XCTAssertEqual(tok.decode(prompt.map(Int.init), special: true),
                       "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\nadd\n\n### Response:\n")
        XCTAssertEqual(response, (tok.encode("42", addSpecial: false, parseSpecial: false) + [tok.eos!]).map(Int32.init))
        let withInput = try p.promptText(SFTRecord(.alpaca(instruction: "add", input: "1 2", output: "3")))!
        XCTAssert(withInput.hasSuffix("### Instruction:\nadd\n\n### Input:\n1 2\n\n### Response:\n"))
        let c = try p.render(SFTRecord(.completion(prompt: "ab", completion: "cd")))
        XCTAssertEqual(c.prompt, tok.encode("ab", addSpecial: false, parseSpecial: false).map(Int32.init))
        XCTAssertEqual(c.response.count, 3)
        let t = try p.render(SFTRecord(.text("abc")))
        XCTAssertEqual(t.prompt, [])
        XCTAssertEqual(t.response.count, 3)
        XCTAssertThrowsError(try p.render(SFTRecord(.chat([.init(role: "user", content: "a"), .init(role: "assistant", content: "b")]), source: "c.jsonl:4"))) {
            XCTAssert("\($0)".contains("c.jsonl:4") && "\($0)".contains("chat template"), "\($0)")
        }
    }

    // MARK: rows and batches

    func testMaskingTargetsExactlyThePromptPositions() throws {
        let (ex, dropped) = SFTBatches.examples([([1, 2, 3], [4, 5]), ([6], [7, 8, 9])], maxSeq: 16)
        XCTAssertEqual(dropped, 0)
        let rows = SFTBatches.rows(ex, order: [0, 1], maxSeq: 16, packing: false, trainOnPrompt: false)
        let b = SFTBatches.batch(rows[...])
        XCTAssertEqual(b.batch, 2)
        XCTAssertEqual(b.length, 4)
        // Row 0: tokens 1 2 3 4 5 → inputs 1 2 3 4, targets −1 −1 4 5 (positions whose next token is prompt are −1).
        XCTAssertEqual(Array(b.inputs[0..<4]), [1, 2, 3, 4])
        XCTAssertEqual(Array(b.targets[0..<4]), [-1, -1, 4, 5])
        // Row 1: 6 7 8 9 → inputs 6 7 8 and one pad, targets 7 8 9 −1.
        XCTAssertEqual(Array(b.inputs[4..<8]), [6, 7, 8, 0])
        XCTAssertEqual(Array(b.targets[4..<8]), [7, 8, 9, -1])
        XCTAssertEqual(b.scored, 5)
        XCTAssertEqual(b.tokens, 7)
        // --train-on-prompt scores every next token.
        let all = SFTBatches.batch(SFTBatches.rows(ex, order: [0], maxSeq: 16, packing: false, trainOnPrompt: true)[...])
        XCTAssertEqual(all.targets, [2, 3, 4, 5])
    }

    func testTruncationAndDrops() {
        // maxSeq 4 → at most 5 tokens per example.
        let (ex, dropped) = SFTBatches.examples([([1, 2], [3, 4, 5, 6, 7]), ([1, 2, 3, 4, 5], [6]), ([1, 2, 3, 4], [5, 6]), ([1], [])], maxSeq: 4)
        XCTAssertEqual(dropped, 2)  // a prompt of 5 leaves no response; an empty response
        XCTAssertEqual(ex, [SFTExample(tokens: [1, 2, 3, 4, 5], promptCount: 2), SFTExample(tokens: [1, 2, 3, 4, 5], promptCount: 4)])
        XCTAssertEqual(ex[1].labels(trainOnPrompt: false), [-1, -1, -1, -1, 5])
        // Text is cut, not truncated: every token a target once.
        let t = SFTBatches.textExamples(prompt: [0], text: Array(1...9), maxSeq: 4)
        XCTAssertEqual(t.map(\.tokens), [[0, 1, 2, 3, 4], [4, 5, 6, 7, 8], [8, 9]])
        XCTAssertEqual(t.map(\.promptCount), [1, 0, 0])
        let targets = SFTBatches.rows(t, order: [0, 1, 2], maxSeq: 4, packing: false, trainOnPrompt: false).flatMap { $0.labels.dropFirst() }
        XCTAssertEqual(targets, Array(1...9))
        XCTAssertEqual(SFTBatches.textExamples(prompt: [], text: [5], maxSeq: 4), [])
    }

    func testPackingCutsTheStreamWithOverlapOne() {
        let ex = [SFTExample(tokens: [1, 2, 3], promptCount: 1), SFTExample(tokens: [4, 5, 6, 7], promptCount: 2),
                  SFTExample(tokens: [8, 9], promptCount: 1)]
        let rows = SFTBatches.rows(ex, order: [2, 0, 1], maxSeq: 4, packing: true, trainOnPrompt: false)
        // Stream 8 9 1 2 3 4 5 6 7, labels −1 9 −1 2 3 −1 −1 6 7.
        XCTAssertEqual(rows.map(\.tokens), [[8, 9, 1, 2, 3], [3, 4, 5, 6, 7]])
        XCTAssertEqual(rows.map(\.labels), [[-1, 9, -1, 2, 3], [3, -1, -1, 6, 7]])
        XCTAssertEqual(SFTBatches.rowCount(ex, maxSeq: 4, packing: true), rows.count)
        XCTAssertEqual(rows.reduce(0) { $0 + $1.scored }, 5)  // each response token once
        for maxSeq in [1, 2, 3, 7, 8, 9] {
            XCTAssertEqual(SFTBatches.rowCount(ex, maxSeq: maxSeq, packing: true),
                           SFTBatches.rows(ex, order: [0, 1, 2], maxSeq: maxSeq, packing: true, trainOnPrompt: false).count, "maxSeq \(maxSeq)")
        }
        let b = SFTBatches.batch(rows[1...])
        XCTAssertEqual(b.targets, [-1, -1, 6, 7])
    }

    func testShuffleIsAPermutationFromTheRNG() {
        var a = TrainRNG(seed: 5), b = TrainRNG(seed: 5), c = TrainRNG(seed: 6)
        let x = SFTBatches.shuffled(count: 50, rng: &a)
        XCTAssertEqual(x, SFTBatches.shuffled(count: 50, rng: &b))
        XCTAssertNotEqual(x, SFTBatches.shuffled(count: 50, rng: &c))
        XCTAssertEqual(x.sorted(), Array(0..<50))
        XCTAssertNotEqual(x, Array(0..<50))
        XCTAssertNotEqual(SFTBatches.shuffled(count: 50, rng: &a), x)  // the next epoch differs
    }
}

/// The finetune schedule and step count, against Hugging Face's formulas written out here.
final class FinetuneOptionsTests: XCTestCase {
    func testStepsPerEpochAndMaxSteps() {
        var o = FinetuneOptions()
        o.batchSize = 2; o.gradAccum = 3; o.epochs = 2
        // 13 rows → 7 micro-batches → 3 steps per epoch (the last with one micro-batch).
        XCTAssertEqual(o.stepsPerEpoch(rows: 13), 3)
        XCTAssertEqual(o.steps(rowsPerEpoch: 13), 6)
        XCTAssertEqual(o.stepsPerEpoch(rows: 12), 2)
        XCTAssertEqual(o.stepsPerEpoch(rows: 1), 1)
        o.maxSteps = 10
        XCTAssertEqual(o.steps(rowsPerEpoch: 13), 10)
    }

    func testSchedulesMatchHuggingFace() {
        var o = FinetuneOptions()
        o.learningRate = 1e-3
        let n = 10
        // get_linear_schedule_with_warmup, warmup 0: step k uses lr · (n − (k−1)) / n.
        XCTAssertEqual((1...n).map { o.learningRate(step: $0, steps: n) }, (0..<n).map { 1e-3 * Float(n - $0) / Float(n) })
        o.warmupSteps = 3
        // Warmup: s / 3 for s = 0, 1, 2 (the first step's rate is 0, as in HF), then linear over the 7 left.
        XCTAssertEqual(o.learningRate(step: 1, steps: n), 0)
        XCTAssertEqual(o.learningRate(step: 3, steps: n), 1e-3 * 2 / 3, accuracy: 1e-9)
        XCTAssertEqual(o.learningRate(step: 4, steps: n), 1e-3, accuracy: 1e-9)
        XCTAssertEqual(o.learningRate(step: 10, steps: n), 1e-3 * 1 / 7, accuracy: 1e-9)
        o.scheduler = "cosine"
        XCTAssertEqual(o.learningRate(step: 4, steps: n), 1e-3, accuracy: 1e-9)
        XCTAssertEqual(o.learningRate(step: 10, steps: n), 1e-3 * Float(0.5 * (1 + cos(Double.pi * 6 / 7))), accuracy: 1e-9)
        o.scheduler = "constant"
        XCTAssertEqual(o.learningRate(step: 10, steps: n), 1e-3)
        o.warmupRatio = 0.25  // ceil(2.5) = 3 warmup steps of 10
        XCTAssertEqual(o.warmup(steps: n), 3)
    }

    func testValidationAndCurveMismatch() {
        var o = FinetuneOptions()
        XCTAssertNoThrow(try o.validate())
        o.scheduler = "step"
        XCTAssertThrowsError(try o.validate()) { XCTAssert("\($0)".contains("--lr-scheduler")) }
        o = FinetuneOptions()
        o.maxSeq = 1
        XCTAssertThrowsError(try o.validate())
        var a = FinetuneOptions(), b = FinetuneOptions()
        b.saveSteps = 7; b.threads = 3; b.evalSteps = 5  // bookkeeping: free to change
        XCTAssertNil(a.curveMismatch(b))
        a.lora.rank = 16
        XCTAssertEqual(a.curveMismatch(b), "--rank is 16 but the checkpoint was trained with 8")
    }
}
