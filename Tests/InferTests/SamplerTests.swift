import Testing
@testable import Infer

private func logits(_ v: [Float]) -> [Float] { v }

@Test func greedyPicksTheLargestLogitAfterPenalties() {
    var s = Sampler(.greedy)
    #expect([1, 5, 3, 5.5, -1].withUnsafeBufferPointer { s.sample($0) } == 3)
    var o = SamplingOptions.greedy
    o.repeatPenalty = 2
    var p = Sampler(o)
    p.accept([3])  // 5.5 / 2 < 5
    #expect([1, 5, 3, 5.5, -1].withUnsafeBufferPointer { p.sample($0) } == 1)
}

@Test func negativeLogitsArePenalizedByMultiplying() {
    var o = SamplingOptions.greedy
    o.repeatPenalty = 3
    var p = Sampler(o)
    p.accept([0])
    // -1 × 3 = -3 < -2
    #expect([-1, -2].withUnsafeBufferPointer { p.sample($0) } == 1)
}

@Test func sameSeedSameDraws() {
    var o = SamplingOptions()
    o.seed = 1234
    o.temperature = 1.5
    o.topK = 0
    o.topP = 1
    let l: [Float] = (0..<50).map { Float($0 % 7) * 0.3 }
    var a = Sampler(o), b = Sampler(o)
    let da = (0..<40).map { _ in l.withUnsafeBufferPointer { a.sample($0) } }
    let db = (0..<40).map { _ in l.withUnsafeBufferPointer { b.sample($0) } }
    #expect(da == db)
    #expect(Set(da).count > 5)  // really sampling
    o.seed = 99
    var c = Sampler(o)
    #expect((0..<40).map { _ in l.withUnsafeBufferPointer { c.sample($0) } } != da)
}

@Test func topKOneAndMinPOneAreGreedy() {
    let l: [Float] = [0.1, 2, 1.9, -3, 1.99]
    for tweak in [{ (o: inout SamplingOptions) in o.topK = 1 }, { (o: inout SamplingOptions) in o.minP = 1; o.topK = 0 }] {
        var o = SamplingOptions()
        o.seed = 5
        o.repeatPenalty = 1
        tweak(&o)
        var s = Sampler(o)
        for _ in 0..<20 { #expect(l.withUnsafeBufferPointer { s.sample($0) } == 1) }
    }
}

@Test func topPKeepsTheSmallestNucleus() {
    var o = SamplingOptions()
    o.seed = 3
    o.topK = 0
    o.topP = 0.5
    o.repeatPenalty = 1
    o.temperature = 1
    // Token 2 alone holds > 50% of the mass.
    var s = Sampler(o)
    for _ in 0..<30 { #expect([0, 0, 5, 0].withUnsafeBufferPointer { s.sample($0) } == 2) }
}

@Test func badOptionsAreRejected() {
    var o = SamplingOptions()
    o.minP = 2
    #expect(throws: InferError.self) { try o.validate() }
    o = SamplingOptions()
    o.temperature = .nan
    #expect(throws: InferError.self) { try o.validate() }
}

@Test func textStreamNeverSplitsACharacter() {
    var t = TextStream(stop: [])
    let e = Array("é€😀".utf8)  // 2 + 3 + 4 bytes
    var out = ""
    for b in e { out += t.feed([b]) }
    #expect(out == "é€😀")
    #expect(t.feed([0xE2, 0x82]) == "")
    #expect(t.finish() == "\u{FFFD}")
}

@Test func textStreamStopsAcrossPiecesAndHoldsPrefixes() {
    var t = TextStream(stop: ["</end>", "STOP"])
    #expect(t.feed(Array("hello </".utf8)) == "hello ")
    #expect(t.feed(Array("en".utf8)) == "")
    #expect(t.feed(Array("try".utf8)) == "</entry")  // not a stop after all
    #expect(t.feed(Array(" a ST".utf8)) == " a ")
    #expect(t.feed(Array("OP and more".utf8)) == "")
    #expect(t.stopped)
    #expect(t.feed(Array("x".utf8)) == "")
}

@Test func completeUTF8PrefixCases() {
    #expect(TextStream.completeUTF8Prefix([]) == 0)
    #expect(TextStream.completeUTF8Prefix([0x41]) == 1)
    #expect(TextStream.completeUTF8Prefix([0x41, 0xC3]) == 1)
    #expect(TextStream.completeUTF8Prefix([0x41, 0xC3, 0xA9]) == 3)
    #expect(TextStream.completeUTF8Prefix([0xF0, 0x9F, 0x98]) == 0)
    #expect(TextStream.completeUTF8Prefix([0x80, 0x80]) == 2)  // stray continuation bytes are not waited for
}
