import Formats
import Infer
import XCTest
@testable import Finetune

/// The trainer with the real models: windows, resume equal to an uninterrupted run (both architectures, with
/// gradient accumulation and dropout), early stopping that keeps and exports the best weights.
final class TrainerTests: XCTestCase {
    var dir = ""
    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "llmkit-trainer-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// Deterministic text with structure to learn (~12 KB).
    static let text: String = {
        var rng = TrainRNG(seed: 11)
        let words = ["model", "token", "layer", "train", "loss", "the", "a", "weights", "step", "of", "and", "runs"]
        var s = ""
        for i in 0..<2000 { s += words[rng.below(words.count)] + (i % 11 == 10 ? ".\n" : " ") }
        return s
    }()

    func setup(_ run: String, arch: String = "gpt2", steps: Int, stopAt: Int? = nil, resume: Bool = false,
               lr: Float = 3e-3, patience: Int? = nil, accum: Int = 1) throws -> TrainSetup {
        var o = TrainOptions(steps: steps)
        o.batch = 3; o.learningRate = lr; o.evalEvery = 4; o.evalWindows = 6; o.logEvery = 2; o.checkpointEvery = 5
        o.stopAt = stopAt; o.patience = patience; o.gradAccum = accum; o.keep = 2
        let cfg = ModelConfig(architecture: arch, vocabularySize: 1, contextLength: 24, layers: 1, dim: 16, heads: 2,
                              kvHeads: arch == "llama" ? 1 : 2, ffnDim: 32, dropout: 0.1, tiedOutput: arch == "gpt2")
        return TrainSetup(run: dir + "/" + run, name: run, dataFile: "words.txt", dataSHA256: "00", text: TrainerTests.text,
                          tokenizer: try TokenizerInfo(kind: "char", source: "test", metadata: CharVocabulary.metadata(corpus: TrainerTests.text)),
                          model: cfg, options: o, resume: resume, samplePrompts: ["the model"], export: true, command: nil)
    }

    func quietRun(_ s: TrainSetup) throws -> TrainOutcome {
        try TrainSession.run(s, progress: ProgressBar(total: s.options.steps, logEvery: 1000, interactive: false, write: { _ in }), log: { _ in })
    }

    func curve(_ run: String) throws -> [String] {
        let text = try String(contentsOfFile: dir + "/" + run + "/metrics.jsonl", encoding: .utf8)
        return text.split(separator: "\n").map { line in
            // Everything but the timings.
            line.split(separator: ",").filter { !$0.contains("tokens_per_s") && !$0.contains("elapsed_s") }.joined(separator: ",")
        }
    }

    func testWindowsStayInTheTrainingPartAndShiftByOne() throws {
        let tokens = (0..<1000).map(Int32.init)
        let split = try TokenSplit(tokens: tokens, context: 16, file: "x")
        XCTAssertEqual(split.trainCount, 900)
        var rng = TrainRNG(seed: 1)
        for _ in 0..<200 {
            let b = split.batch(rows: 4, length: 16, rng: &rng)
            for r in 0..<4 {
                let s = b.inputs[r * 16]
                for i in 0..<16 {
                    XCTAssertEqual(b.inputs[r * 16 + i], s + Int32(i))
                    XCTAssertEqual(b.targets[r * 16 + i], s + Int32(i) + 1)
                }
                XCTAssertLessThan(Int(b.targets[r * 16 + 15]), 900)
            }
        }
        XCTAssertEqual(split.validationWindowCount(length: 16, maxWindows: 64), 6)  // ⌊99/16⌋
        let v = split.validationBatch(first: 1, count: 2, length: 16)
        XCTAssertEqual(v.inputs.first, 916)
        XCTAssertEqual(v.targets.last, 900 + 47 + 1)
        XCTAssertThrowsError(try TokenSplit(tokens: Array(tokens.prefix(100)), context: 16, file: "x"))  // 10 val tokens
    }

    func testResumeEqualsAnUninterruptedRun() throws {
        for (arch, accum) in [("gpt2", 1), ("llama", 2)] {
            _ = try quietRun(try setup(arch + "-whole", arch: arch, steps: 14, accum: accum))
            let half = try quietRun(try setup(arch + "-half", arch: arch, steps: 14, stopAt: 7, accum: accum))
            XCTAssertFalse(half.finished)
            let rest = try quietRun(try setup(arch + "-half", arch: arch, steps: 14, resume: true, accum: accum))
            XCTAssertEqual(rest.resumedFrom, 7)
            XCTAssertEqual(try curve(arch + "-half"), try curve(arch + "-whole"), arch)
            let a = try Data(contentsOf: URL(fileURLWithPath: dir + "/\(arch)-whole/checkpoints/step-000014/model.safetensors"))
            let b = try Data(contentsOf: URL(fileURLWithPath: dir + "/\(arch)-half/checkpoints/step-000014/model.safetensors"))
            XCTAssertEqual(a, b, arch)
        }
    }

    func testEarlyStoppingKeepsAndExportsTheBest() throws {
        // A learning rate this high makes validation loss climb after a few evaluations.
        let out = try quietRun(try setup("early", steps: 400, lr: 3e-2, patience: 2))
        let s = out.state
        XCTAssertTrue(s.earlyStopped)
        XCTAssertLessThan(s.step, 400)
        let best = try XCTUnwrap(s.bestStep)
        XCTAssertEqual(s.step, best + 2 * 4)  // two evaluations without improvement
        XCTAssertEqual(out.exportedStep, best)
        XCTAssertEqual(Checkpoint.list(run: dir + "/early").map(\.step).contains(best), true)
        // The export holds the best checkpoint's weights.
        let ckpt = try SafetensorsFile(path: dir + "/early/checkpoints/" + Checkpoint.folderName(step: best) + "/model.safetensors")
        let g = try GGUFFile(path: dir + "/early/model.gguf")
        for t in ckpt.tensors {
            let gt = try XCTUnwrap(g.tensor(named: t.name))
            XCTAssertEqual(Array(g.data(of: gt)), Array(ckpt.data(of: t)), t.name)
        }
    }
}
