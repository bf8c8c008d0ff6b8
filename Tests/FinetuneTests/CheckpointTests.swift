import Formats
import XCTest
@testable import Finetune

final class CheckpointTests: XCTestCase {
    var run = ""

    override func setUpWithError() throws {
        run = NSTemporaryDirectory() + "llmkit-ckpt-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: run) }

    func params(_ seed: UInt64) -> [Parameter] {
        var rng = TrainRNG(seed: seed)
        let ps = [Parameter(name: "token_embd.weight", shape: [7, 3], decay: false),
                  Parameter(name: "blk.0.attn_qkv.weight", shape: [9, 3], decay: true),
                  Parameter(name: "blk.0.attn_qkv.bias", shape: [9], decay: false)]
        for p in ps { for i in 0..<p.count { p.value[i] = rng.normal() } }
        return ps
    }

    func moments(_ ps: [Parameter], seed: UInt64) -> [OptimizerMoments] {
        var rng = TrainRNG(seed: seed)
        return ps.map { p in
            let m = UnsafeMutableBufferPointer<Float>.allocate(capacity: p.count), v = UnsafeMutableBufferPointer<Float>.allocate(capacity: p.count)
            for i in 0..<p.count { m[i] = rng.normal(); v[i] = rng.uniform() }
            return OptimizerMoments(name: p.name, m: m, v: v)
        }
    }

    func state(step: Int) throws -> TrainState {
        var md = GGUFMetadata()
        md["tokenizer.ggml.model"] = .string("char")
        md["tokenizer.ggml.tokens"] = .strings(["a", "b", "\n", "<|endoftext|>"])
        md["tokenizer.ggml.token_type"] = .int32s([1, 1, 1, 3])
        md["tokenizer.ggml.eos_token_id"] = .uint32(3)
        var rng = TrainRNG(seed: 9)
        for _ in 0..<step { _ = rng.next() }
        var s = TrainState(step: step, rng: rng, model: ModelConfig(vocabularySize: 7, layers: 1, dim: 3, heads: 1, ffnDim: 4),
                           options: TrainOptions(steps: 100), optimizerStep: step, learningRate: 1e-3,
                           tokenizer: try TokenizerInfo(kind: "char", source: "test", metadata: md),
                           data: DataInfo(file: "d.txt", sha256: String(repeating: "ab", count: 32), characters: 10, tokens: 10,
                                          trainTokens: 9, validationTokens: 1, validationCharacters: 1))
        s.bestValLoss = 1.25
        s.bestStep = step
        return s
    }

    func testRoundTripRestoresEveryBitAndTheState() throws {
        let a = params(1), ma = moments(a, seed: 2)
        let st = try state(step: 12)
        let path = try Checkpoint.write(run: run, state: st, parameters: a, moments: ma)
        XCTAssertEqual((path as NSString).lastPathComponent, "step-000012")
        let b = params(5), mb = moments(b, seed: 6)
        try Checkpoint.restore(path, parameters: b, moments: mb)
        for (x, y) in zip(a, b) { XCTAssertEqual(Array(x.value), Array(y.value), x.name) }
        for (x, y) in zip(ma, mb) {
            XCTAssertEqual(Array(x.m), Array(y.m)); XCTAssertEqual(Array(x.v), Array(y.v))
        }
        let back = try Checkpoint.readState(path)
        XCTAssertEqual(back, st)
        // The tokenizer keys come back with their GGUF types.
        let md = try back.tokenizer.metadata()
        XCTAssertEqual(md["tokenizer.ggml.eos_token_id"], .uint32(3))
        XCTAssertEqual(md["tokenizer.ggml.token_type"], .int32s([1, 1, 1, 3]))
        // The optimizer file names the moments after their parameters.
        let opt = try SafetensorsFile(path: path + "/optimizer.safetensors")
        XCTAssertEqual(Set(opt.tensors.map(\.name)), Set(a.flatMap { [$0.name + ".adam_m", $0.name + ".adam_v"] }))
        XCTAssertEqual(opt.tensor(named: "blk.0.attn_qkv.weight.adam_v")?.shape, [9, 3])
    }

    func testHalfWrittenFoldersAreIgnoredAndRemoved() throws {
        let a = params(1)
        try Checkpoint.write(run: run, state: try state(step: 5), parameters: a, moments: moments(a, seed: 2))
        let dir = Checkpoint.directory(run: run)
        // What a killed writer leaves: a temp folder with a partial file; and a step folder missing its state.
        try FileManager.default.createDirectory(atPath: dir + "/.tmp-step-000010-123", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: dir + "/.tmp-step-000010-123/model.safetensors", contents: Data([1, 2, 3]))
        try FileManager.default.createDirectory(atPath: dir + "/step-000011", withIntermediateDirectories: true)
        XCTAssertEqual(Checkpoint.list(run: run).map(\.step), [5])
        XCTAssertEqual(Checkpoint.removeTemporary(run: run), [".tmp-step-000010-123"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/.tmp-step-000010-123"))
    }

    func testPruneKeepsTheNewestAndTheBest() throws {
        let a = params(1), m = moments(a, seed: 2)
        for step in [100, 200, 300, 400, 500] {
            try Checkpoint.write(run: run, state: try state(step: step), parameters: a, moments: m)
        }
        Checkpoint.prune(run: run, keep: 2, best: 200)
        XCTAssertEqual(Checkpoint.list(run: run).map(\.step), [200, 400, 500])
        // Rewriting an existing step replaces it.
        try Checkpoint.write(run: run, state: try state(step: 500), parameters: a, moments: m)
        XCTAssertEqual(Checkpoint.list(run: run).map(\.step), [200, 400, 500])
    }

    func testRestoreRefusesAnotherModel() throws {
        let a = params(1)
        let path = try Checkpoint.write(run: run, state: try state(step: 1), parameters: a, moments: moments(a, seed: 2))
        let other = [Parameter(name: "token_embd.weight", shape: [7, 4], decay: false),
                     Parameter(name: "blk.0.attn_qkv.weight", shape: [9, 3], decay: true),
                     Parameter(name: "blk.0.attn_qkv.bias", shape: [9], decay: false)]
        XCTAssertThrowsError(try Checkpoint.restore(path, parameters: other, moments: nil)) { e in
            XCTAssert("\(e)".contains("token_embd.weight"), "\(e)")
        }
        XCTAssertThrowsError(try Checkpoint.restore(path, parameters: Array(a.prefix(2)), moments: nil))
    }

    func testMetadataRecordsKeepTypes() throws {
        var md = GGUFMetadata()
        md["a"] = .uint8(7); md["b"] = .int64(-3); md["c"] = .float32(0.5); md["d"] = .bool(true)
        md["e"] = .array(.uint32, [.uint32(1), .uint32(2)]); md["f"] = .float32s([1.5, -2]); md["g"] = .string("x\ny")
        let json = try JSONEncoder().encode(try MetadataRecord.records(md))
        let back = try MetadataRecord.metadata(try JSONDecoder().decode([MetadataRecord].self, from: json))
        XCTAssertEqual(back.entries.map(\.key), md.entries.map(\.key))
        for (k, v) in md { XCTAssertEqual(back[k], v, k) }
    }
}
