import Formats
import Infer
import XCTest
@testable import Finetune

/// The GGUF export of the real training models, loaded by Infer: the same logits as the training code's own
/// forward pass (gpt2 tied; llama with GQA, RoPE and an untied output).
final class ExportTests: XCTestCase {
    let text = "the quick brown fox jumps over the lazy dog. The end!\n"

    func check(_ config: ModelConfig, file: StaticString = #filePath, line: UInt = #line) throws {
        let md = try CharVocabulary.metadata(corpus: text, unknown: .unk)
        let tok = try Tokenizers.load(metadata: md)
        var c = config
        c.vocabularySize = tok.vocabularySize
        var rng = TrainRNG(seed: 3)
        let model = try makeTrainModel(config: c, rng: &rng)
        // Larger than init-scale weights, so a transposed or misnamed tensor cannot hide in the noise.
        for p in model.parameters where p.shape.count == 2 { for i in 0..<p.count { p.value[i] *= 8 } }
        let path = NSTemporaryDirectory() + "llmkit-export-\(UUID().uuidString).gguf"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try GGUFExport.write(to: path, config: c, name: "t", tokenizer: md, parameters: model.parameters)

        let loaded = try Model(path: path)
        XCTAssertEqual(loaded.network.architecture, c.architecture, file: file, line: line)
        XCTAssertEqual(loaded.tokenizer.vocabularySize, c.vocabularySize, file: file, line: line)
        let ids = tok.encode("the lazy fox.", addSpecial: true, parseSpecial: true)
        XCTAssertEqual(loaded.tokenizer.encode("the lazy fox.", addSpecial: true, parseSpecial: true), ids, file: file, line: line)
        let cache = loaded.network.makeCache(contextLength: c.contextLength, precision: .f32)
        let all = try loaded.network.forward(ids, cache: cache, outputs: Array(ids.indices), threads: 1)
        let V = c.vocabularySize
        var worst: Float = 0
        for t in [0, 1, 4, ids.count - 1] {
            let want = try model.logits(context: ids[0...t].map(Int32.init))
            let got = Array(all[(t * V)..<((t + 1) * V)])
            let scale = want.map(abs).max()!
            for (a, b) in zip(got, want) { worst = max(worst, abs(a - b) / scale) }
        }
        XCTAssertLessThan(worst, 1e-4, "max logit difference relative to the largest logit", file: file, line: line)

        // gguf dims are the reversed row-major shapes; a tied output writes no output.weight.
        let g = try GGUFFile(path: path)
        for p in model.parameters { XCTAssertEqual(g.tensor(named: p.name)?.dims, Array(p.shape.reversed()), p.name, file: file, line: line) }
        XCTAssertEqual(g.tensor(named: "output.weight") != nil, !c.tiedOutput, file: file, line: line)
    }

    func testGPT2ExportRunsInInferWithTheSameLogits() throws {
        try check(ModelConfig(architecture: "gpt2", vocabularySize: 1, contextLength: 32, layers: 2, dim: 32, heads: 4, ffnDim: 48, dropout: 0.1))
    }

    func testLlamaExportRunsInInferWithTheSameLogits() throws {
        try check(ModelConfig(architecture: "llama", vocabularySize: 1, contextLength: 32, layers: 2, dim: 32, heads: 4, kvHeads: 2,
                              ffnDim: 48, dropout: 0, tiedOutput: false))
    }
}
