// The server's context-shift rules (ContextShift.swift) against Ollama's runner: num_keep clamping, ShiftDiscard,
// the 10 × num_ctx token limit, prompt truncation to num_ctx when shifting, and who does not shift.
import Foundation
import Infer
import Testing
@testable import Server

@Suite struct ContextShiftRuleTests {
    @Test func ollamasNumbers() {
        // keep: negative → the whole prompt; at most num_ctx − 1.
        #expect(ContextShift.keep(numKeep: 4, prompt: 10, numCtx: 128) == 4)
        #expect(ContextShift.keep(numKeep: -1, prompt: 10, numCtx: 128) == 10)
        #expect(ContextShift.keep(numKeep: -1, prompt: 300, numCtx: 128) == 127)
        #expect(ContextShift.keep(numKeep: 500, prompt: 3, numCtx: 128) == 127)
        // ShiftDiscard on a full cache: (num_ctx − keep) / 2, at least 1; less when some room is free already.
        #expect(ContextShift.discard(count: 128, numCtx: 128, keep: 4) == 62)
        #expect(ContextShift.discard(count: 128, numCtx: 128, keep: 0) == 64)
        #expect(ContextShift.discard(count: 128, numCtx: 128, keep: 127) == 1)
        #expect(ContextShift.discard(count: 127, numCtx: 128, keep: 5) == 60)
        #expect(ContextShift.discard(count: 10, numCtx: 128, keep: 4) == 0)
        #expect(ContextShift.discard(count: 7, numCtx: 7, keep: 6) == 1)
        // num_predict: any negative value (−2 too: llm/server.go) and anything above 10 × num_ctx → 10 × num_ctx.
        #expect(ContextShift.tokenLimit(numPredict: -1, numCtx: 128) == 1280)
        #expect(ContextShift.tokenLimit(numPredict: 5000, numCtx: 128) == 1280)
        #expect(ContextShift.tokenLimit(numPredict: 400, numCtx: 128) == 400)
        #expect(ContextShift.tokenLimit(numPredict: 0, numCtx: 128) == 0)
        #expect(ContextShift.tokenLimit(numPredict: -2, numCtx: 128) == 1280)
        #expect(ContextShift.tokenLimit(numPredict: -1_000_000, numCtx: 64) == 640)
    }

    @Test func shiftingPromptsFillTheContext() throws {
        var g = GenerationSettings()
        g.numPredict = 8
        let ids = Array(0..<100)
        var logged: [String] = []
        // Ollama's NewSequence: the first num_keep and the last num_ctx − num_keep tokens.
        let out = try PromptBuilder.fit(ids, numCtx: 64, settings: g, shifting: true, truncate: true) { logged.append($0) }
        #expect(out == [0, 1, 2, 3] + Array(40..<100))
        #expect(logged.count == 1 && logged[0].contains("keep=4 new=64"))
        #expect(try PromptBuilder.fit(Array(0..<64), numCtx: 64, settings: g, shifting: true, truncate: false) { _ in } == Array(0..<64))
        g.numKeep = -1  // the whole prompt, clamped to num_ctx − 1: only the last token survives after it
        #expect(try PromptBuilder.fit(ids, numCtx: 64, settings: g, shifting: true, truncate: true) { _ in } == Array(0..<63) + [99])
        do { _ = try PromptBuilder.fit(ids, numCtx: 64, settings: g, shifting: true, truncate: false) { _ in }; Issue.record("no error") } catch {
            #expect(error.message == "the input length exceeds the context length")
        }
        // Without shifting the answer keeps its room (num_predict 8 → 56 prompt tokens).
        g.numKeep = 4
        #expect(try PromptBuilder.fit(ids, numCtx: 64, settings: g, shifting: false, truncate: true) { _ in }.count == 56)
    }

    @Test func whoShifts() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let gpt = try Model(path: root.appendingPathComponent("models/tiny.gguf").path).network
        let g = GenerationSettings()
        #expect(!ContextShift.enabled(g, gpt))
        #expect(ContextShift(settings: g, model: gpt, prompt: 10, numCtx: 64, log: { _ in }) == nil)
    }
}
