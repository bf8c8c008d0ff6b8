// Log-softmax and top-k of Logprobs.swift against a Double reference; the byte bookkeeping that attaches a token's
// entry to the text its first byte lands in; /v1/completions' legacy shape.
import Formats
import Foundation
import Infer
import Testing
@testable import Server

@Suite struct LogprobsTests {
    func summary(_ x: [Float], _ k: Int) -> (logSumExp: Double, top: [TokenLogprob]) {
        x.withUnsafeBufferPointer { LogSoftmax.summary($0, top: k) }
    }

    @Test func matchesDoubleReference() {
        var g = SystemRandomNumberGenerator()
        for n in [1, 2, 7, 1000, 49152] {
            let x = (0..<n).map { _ in Float.random(in: -30...30, using: &g) }
            let ref = LogSoftmax.reference(x)
            let s = summary(x, 20)
            for t in [0, n / 2, n - 1] { #expect(abs((Double(x[t]) - s.logSumExp) - ref[t]) < 1e-9) }
            let want = ref.indices.sorted { ref[$0] > ref[$1] || (ref[$0] == ref[$1] && $0 < $1) }.prefix(20)
            #expect(s.top.map(\.token) == Array(want))
            for e in s.top { #expect(abs(e.logprob - ref[e.token]) < 1e-9) }
            #expect(s.top.map(\.logprob) == s.top.map(\.logprob).sorted(by: >))
            #expect(s.top.reduce(0) { $0 + exp($1.logprob) } <= 1 + 1e-9)
        }
    }

    @Test func largeLogitsStayFinite() {
        let x: [Float] = [1e30, 1e30 - 1e24, -1e30, 3e38]
        let s = summary(x, 2)
        #expect(s.logSumExp.isFinite)
        #expect(s.top.map(\.token) == [3, 0])
        #expect(abs(s.top[0].logprob) < 1e-12)
    }

    @Test func tiesGoToLowerTokenIDs() {
        let x: [Float] = [1, 3, 3, 2, 3, 0]
        let s = summary(x, 4)
        #expect(s.top.map(\.token) == [1, 2, 4, 3])
        let ref = LogSoftmax.reference(x)
        #expect(abs(s.top[0].logprob - ref[1]) < 1e-12 && s.top[0].logprob == s.top[2].logprob)
        let e3: Double = exp(3), e2: Double = exp(2), e1: Double = exp(1)
        let want: Double = 3 - log(3 * e3 + e2 + e1 + 1)
        #expect(abs(s.top[0].logprob - want) < 1e-12)
    }

    @Test func negativeInfinityLogits() {
        let x: [Float] = [-.infinity, 2, -.infinity, 2, 1]
        let s = summary(x, 5)
        let lse: Double = log(2 * exp(2.0) + exp(1.0))
        #expect(abs(s.logSumExp - lse) < 1e-12)
        #expect(s.top.map(\.token) == [1, 3, 4, 0, 2])
        #expect(s.top[3].logprob == -.infinity && s.top[4].logprob == -.infinity)
        let all = summary([-.infinity, -.infinity], 1)
        #expect(all.logSumExp == -.infinity && all.top.map(\.token) == [0])
        #expect(summary(x, 0).top.isEmpty)
        #expect(summary([5], 20).top.count == 1)
    }

    @Test func entriesGoWithTheTextTheirFirstByteIsIn() {
        func e(_ t: Int) -> Logprob { Logprob(token: t, logprob: -1, top: []) }
        var track = LogprobTrack()
        track.add(e(0), bytes: 3)  // "abc" sent
        #expect(track.take(for: "abc").map(\.token) == [0])
        track.add(e(1), bytes: 2)  // "de" held back (a stop string's prefix), then "f"
        track.add(e(2), bytes: 1)
        #expect(track.take(for: "d").map(\.token) == [1])  // "d" released: token 1 starts in it
        #expect(track.take(for: "ef").map(\.token) == [2])
        track.add(e(3), bytes: 0)  // a piece with no bytes goes with the next text
        track.add(e(4), bytes: 2)
        #expect(track.take(for: "g", all: true).map(\.token) == [3, 4])
        track.add(e(5), bytes: 4)
        track.drop()
        track.add(e(6), bytes: 1)
        #expect(track.take(for: "h").map(\.token) == [6])
    }

    @Test func requestFields() throws {
        #expect(try requestedLogprobs(enabled: false, top: 5) == nil)
        #expect(try requestedLogprobs(enabled: true, top: nil) == 0)
        #expect(try requestedLogprobs(enabled: true, top: 20) == 20)
        #expect(throws: APIError.self) { try requestedLogprobs(enabled: true, top: 21) }
        #expect(throws: APIError.self) { try requestedLogprobs(enabled: false, top: -1) }
    }
}

/// /v1/completions' legacy logprobs (CompletionLogprobs.swift) on SmolLM2's tokenizer.
@Suite struct CompletionLogprobsTests {
    static let smollm2 = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".assets/SmolLM2-135M-Instruct.Q4_1.gguf").path

    @Test func requestFollowsOllama() throws {
        #expect(try completionLogprobsRequest(nil) == nil && completionLogprobsRequest(0) == nil && completionLogprobsRequest(-4) == nil)
        #expect(try completionLogprobsRequest(1) == 1 && completionLogprobsRequest(20) == 20)
        do { _ = try completionLogprobsRequest(21); Issue.record("no error") } catch {
            #expect(error.status == .badRequest && error.message == "top_logprobs must be between 0 and 20")
        }
    }

    @Test func fourArraysWithOffsetsAcrossChunks() throws {
        let tok = try Tokenizers.load(path: Self.smollm2)
        let ids = tok.encode("Hi thé ok", addSpecial: false, parseSpecial: false)
        let texts = ids.map { String(decoding: tok.piece($0, special: true), as: UTF8.self) }
        let entries = ids.enumerated().map { i, t in
            Logprob(token: t, logprob: -Double(i) - 0.5, top: [TokenLogprob(token: t, logprob: -0.5), TokenLogprob(token: 1, logprob: -.infinity)])
        }
        let b = CompletionLogprobs(tok)
        #expect(b.field([]) == ("logprobs", JSON.null))
        let first = b.field(Array(entries.prefix(1))), rest = b.field(Array(entries.dropFirst()))
        guard case let .object(o1) = first.1, case let .object(o2) = rest.1 else { Issue.record("not objects"); return }
        #expect(o1.map(\.0) == ["tokens", "token_logprobs", "top_logprobs", "text_offset"])
        func column(_ k: String) -> [JSON] {
            [o1, o2].flatMap { o -> [JSON] in if case let .array(a)? = o.first(where: { $0.0 == k })?.1 { return a }; return [] }
        }
        #expect(column("tokens") == texts.map { .string($0) })
        #expect(column("token_logprobs") == entries.map { .double($0.logprob) })
        // offsets in characters, continued across chunks ("é" is one character of two bytes)
        var at = 0, offsets: [JSON] = []
        for t in texts { offsets.append(.int(at)); at += t.count }
        #expect(column("text_offset") == offsets)
        // {text: logprob}, −∞ as −9999
        #expect(column("top_logprobs").first == .object([(texts[0], .double(-0.5)), ("<|im_start|>", .double(-9999))]))
    }
}
