// Server unit tests: the pure parts of `llmkit serve` — model-name validation (nothing escapes the store), request
// JSON decoding with Go's error texts, Ollama's options and keep_alive, prompt truncation, NDJSON / SSE framing,
// timestamps, SHA-256. The HTTP behaviour is tested against the running server in Tests/oracle/test_server.py.

import Formats
import Foundation
import Infer
import Testing
@testable import Server

@Suite struct ModelNameTests {
    @Test func defaultsAndCase() throws {
        let n = try ModelName("SmolLM2")
        #expect(n.description == "SmolLM2:latest" && n.key == "smollm2:latest" && n.namespace == "library")
        #expect(try ModelName("smollm2:135M") == ModelName("SMOLLM2:135m"))
        let ns = try ModelName("me/model:v1.2_x-y")
        #expect(ns.description == "me/model:v1.2_x-y" && ns.manifestPath == "me/model/v1.2_x-y.json")
        #expect(try ModelName("x:_t").tag == "_t")
    }

    @Test(arguments: ["", "../x", "../../etc/passwd", "/etc/passwd", "a/b/c", "a//b", "x:../y", "x:a/b", "..", ".hidden",
                      "a\\b", "a\u{0}b", "x:", ":tag", "mod el", "é", "x:.t", "-x", String(repeating: "m", count: 81), "a/",
                      "/a", "x::y"])
    func rejects(_ raw: String) {
        #expect(throws: APIError.self) { try ModelName(raw) }
        do { _ = try ModelName(raw) } catch { #expect(error.message == "invalid model name" && error.status == .badRequest) }
    }
}

@Suite struct RequestJSONTests {
    func parse(_ s: String) throws(APIError) -> RequestJSON { try RequestJSON.parse(Array(s.utf8), type: "GenerateRequest") }

    @Test func goStyleErrors() throws {
        func message(_ body: String, _ read: (RequestJSON) throws(APIError) -> Void) -> String? {
            do { try read(try parse(body)); return nil } catch { return error.message }
        }
        #expect(message("", { _ in }) == "missing request body")
        #expect(message("  \n", { _ in }) == "missing request body")
        #expect(message("[1]", { _ in }) == "json: cannot unmarshal array into Go value of type api.GenerateRequest")
        #expect(message(#"{"model": 1}"#, { j throws(APIError) in _ = try j.string("model") }) ==
                "json: cannot unmarshal number into Go struct field GenerateRequest.model of type string")
        #expect(message(#"{"stream": "no"}"#, { j throws(APIError) in _ = try j.bool("stream") }) ==
                "json: cannot unmarshal string into Go struct field GenerateRequest.stream of type bool")
        #expect(message(#"{"context": [1, 2.5]}"#, { j throws(APIError) in _ = try j.ints("context") }) ==
                "json: cannot unmarshal number 2.5 into Go struct field GenerateRequest.context of type int")
        #expect(message("{", { _ in })?.hasPrefix("invalid JSON") == true)
        do { _ = try RequestJSON.parse([0x7B, 0xFF, 0x7D], type: "X"); Issue.record("accepted invalid UTF-8") } catch {
            #expect(error.message == "invalid UTF-8 in request body")
        }
    }

    @Test func nullIsAbsentAndLastKeyWins() throws {
        let j = try parse(#"{"prompt": null, "model": "a", "model": "b", "n": 3.0}"#)
        #expect(try j.string("prompt") == nil)
        #expect(try j.string("model") == "b")
        #expect(try j.int("n") == 3)
    }
}

@Suite struct OptionsTests {
    func apply(_ s: String) throws(APIError) -> GenerationSettings {
        guard case let .object(o) = try! JSON.parse(s) else { fatalError() }
        var g = GenerationSettings()
        try g.apply(o)
        try g.validate()
        return g
    }

    @Test func ollamaDefaults() {
        let g = GenerationSettings()
        #expect(g.sampling.temperature == 0.8 && g.sampling.topK == 40 && g.sampling.topP == 0.9 && g.sampling.repeatPenalty == 1)
        #expect(g.sampling.repeatLastN == 64 && g.numPredict == -1 && g.numKeep == 4 && g.sampling.seed == nil)
    }

    @Test func decodesAndIgnoresUnknown() throws {
        var ignored: [String] = []
        guard case let .object(o) = try JSON.parse(#"{"temperature": 0, "top_k": 5.7, "seed": 42, "stop": ["a"], "num_ctx": 256, "mirostat": 2, "numa": true}"#) else { return }
        var g = GenerationSettings()
        try g.apply(o) { ignored.append($0) }
        #expect(g.sampling.temperature == 0 && g.sampling.topK == 5 && g.sampling.seed == 42 && g.stop == ["a"] && g.numCtx == 256)
        #expect(ignored == ["mirostat", "numa"])
        #expect(try apply(#"{"seed": -1}"#).sampling.seed == nil)
    }

    @Test func typeErrors() {
        let cases: [(String, String)] = [
            (#"{"top_k": "5"}"#, #"option "top_k" must be of type integer"#),
            (#"{"temperature": true}"#, #"option "temperature" must be of type float32"#),
            (#"{"stop": "x"}"#, #"option "stop" must be of type array"#),
            (#"{"stop": [1]}"#, #"option "stop" must be of an array of strings"#),
            (#"{"use_mmap": 0}"#, #"option "use_mmap" must be of type boolean"#),
            (#"{"num_predict": -3}"#, "num_predict must be -2, -1 or a non-negative number"),
            (#"{"num_ctx": 0}"#, "num_ctx must be positive"),
        ]
        for (body, want) in cases {
            do { _ = try apply(body); Issue.record("accepted \(body)") } catch { #expect(error.message == want, "\(body)") }
        }
    }

    @Test func keepAlive() throws {
        #expect(try KeepAlive.parse(.string("5m")) == .seconds(300))
        #expect(try KeepAlive.parse(.string("1h30m")) == .seconds(5400))
        #expect(try KeepAlive.parse(.string("1.5s")) == .seconds(1.5))
        #expect(try KeepAlive.parse(.string("300ms")) == .seconds(0.3))
        #expect(try KeepAlive.parse(.string("0")) == .seconds(0))
        #expect(try KeepAlive.parse(.string("-1m")) == .forever)
        #expect(try KeepAlive.parse(.int(-1)) == .forever)
        #expect(try KeepAlive.parse(.int(30)) == .seconds(30))
        #expect(try KeepAlive.parse(.double(0.5)) == .seconds(0.5))
        for (v, want) in [(JSON.string("5"), #"time: missing unit in duration "5""#), (.string("soon"), #"time: invalid duration "soon""#),
                          (.string("5x"), #"time: invalid duration "5x""#), (.bool(true), "Unsupported type: 'bool'")] {
            do { _ = try KeepAlive.parse(v); Issue.record("accepted \(v)") } catch { #expect(error.message == want) }
        }
    }
}

@Suite struct FramingTests {
    @Test func ndjsonLinesAreCompactAndEscaped() throws {
        let line = JSON.object([("response", .string("a\nb \"q\" é")), ("done", .bool(false))]).line
        #expect(line == "{\"response\":\"a\\nb \\\"q\\\" é\",\"done\":false}\n")
        #expect(line.filter { $0 == "\n" }.count == 1)
    }

    @Test func sseEvents() {
        #expect(LLMServer.sse(.object([("a", .int(1))])) == "data: {\"a\":1}\n\n")
    }

    @Test func errorShapes() {
        var e = APIError.modelNotFound("x")
        #expect(e.json.serialized() == #"{"error":"model 'x' not found"}"#)
        e.openAI = true
        #expect(e.json.serialized() == #"{"error":{"message":"model 'x' not found","type":"not_found_error","param":null,"code":null}}"#)
        #expect(APIError.busy.status == .serviceUnavailable)
    }

    @Test func timestampsAreRFC3339Nano() {
        #expect(Timestamp.rfc3339(seconds: 1_691_176_965, nanoseconds: 499_127_000) == "2023-08-04T19:22:45.499127Z")
        #expect(Timestamp.rfc3339(seconds: 0, nanoseconds: 0) == "1970-01-01T00:00:00Z")
        #expect(Timestamp.now().hasSuffix("Z"))
    }

    @Test func sha256Vectors() {
        #expect(SHA256.hex([UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let long = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
        #expect(SHA256.hex(long) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        var s = SHA256()  // streamed in odd pieces = one shot
        let million = [UInt8](repeating: 0x61, count: 1_000_000)
        var i = 0
        for n in [1, 63, 64, 65, 1000, 7] where i < million.count { s.update(million[i..<(i + n)]); i += n }
        s.update(million[i...])
        #expect(s.finalizeHex() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}

@Suite struct PromptTests {
    @Test func fitKeepsHeadAndTail() throws {
        var g = GenerationSettings()
        g.numPredict = 8
        let ids = Array(0..<100)
        var logged: [String] = []
        let out = try PromptBuilder.fit(ids, numCtx: 64, settings: g, truncate: true) { logged.append($0) }
        #expect(out.count == 56 && Array(out.prefix(4)) == [0, 1, 2, 3] && out.last == 99 && out[4] == 48)
        #expect(logged.count == 1 && logged[0].contains("truncating input prompt"))
        #expect(try PromptBuilder.fit(Array(0..<10), numCtx: 64, settings: g, truncate: false) { _ in } == Array(0..<10))
        do { _ = try PromptBuilder.fit(ids, numCtx: 64, settings: g, truncate: false) { _ in }; Issue.record("no error") } catch {
            #expect(error.message == "the input length exceeds the context length")
        }
    }
}

@Suite struct JSONConstraintTests {
    func accepts(_ s: String) -> (ok: Bool, complete: Bool) {
        var p = JSONPrefix()
        for b in s.utf8 where !p.feed(b) { return (false, false) }
        return (true, p.isComplete)
    }

    @Test func completeObjects() {
        for s in [#"{}"#, #" {"a": 1}"#, #"{"a":[1,-2.5e+3,true,false,null,"x\"\u00e9"],"b":{"c":{}}}"#, "{\"k\":\n  0}"] {
            #expect(accepts(s) == (true, true), "\(s)")
        }
    }

    @Test func prefixes() {
        for s in [#"{"#, #"{"a"#, #"{"a":"#, #"{"a": [1, 2"#, #"{"a": tr"#, #"{"a": -"#, #"{"a": 1.5e"#, #"{"a":"\u00"#] {
            #expect(accepts(s) == (true, false), "\(s)")
        }
    }

    @Test func rejects() {
        for s in ["[1]", "x", #"{"a" 1}"#, #"{"a":01}"#, #"{"a":1,}"#, #"{a:1}"#, #"{"a":tru3}"#, "{\"a\":\"\n\"}", #"{"a":1]"#,
                  #"{}{"#, #"{"a":1.}"#, #"{"a":"\x"}"#, "{" + String(repeating: " ", count: 40)] {
            #expect(!accepts(s).ok, "\(s)")
        }
    }

    @Test func maskAllowsEndOnlyWhenComplete() {
        let pieces: [[UInt8]] = [Array("{".utf8), Array("}".utf8), Array("\"a\"".utf8), [], Array("x".utf8)]
        var logits = [Float](repeating: 1, count: 6)  // id 5: end of generation
        maskJSON(&logits, state: JSONPrefix(), pieces: pieces + [[]], isEnd: (0..<6).map { $0 == 5 })
        #expect(logits.map { $0 > -.infinity } == [true, false, false, false, false, false])
        var done = JSONPrefix()
        for b in "{}".utf8 { _ = done.feed(b) }
        logits = [Float](repeating: 1, count: 6)
        maskJSON(&logits, state: done, pieces: pieces + [[]], isEnd: (0..<6).map { $0 == 5 })
        #expect(logits.map { $0 > -.infinity } == [false, false, false, false, false, true])
    }
}
