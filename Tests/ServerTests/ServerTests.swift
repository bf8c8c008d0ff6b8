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
        // Any negative num_predict is accepted (Ollama caps it at 10 × num_ctx later, ContextShift.tokenLimit).
        #expect(try apply(#"{"num_predict": -3}"#).numPredict == -3 && apply(#"{"num_predict": -2.5}"#).numPredict == -2)
    }

    @Test func typeErrors() {
        let cases: [(String, String)] = [
            (#"{"top_k": "5"}"#, #"option "top_k" must be of type integer"#),
            (#"{"temperature": true}"#, #"option "temperature" must be of type float32"#),
            (#"{"stop": "x"}"#, #"option "stop" must be of type array"#),
            (#"{"stop": [1]}"#, #"option "stop" must be of an array of strings"#),
            (#"{"use_mmap": 0}"#, #"option "use_mmap" must be of type boolean"#),
            (#"{"num_predict": "3"}"#, #"option "num_predict" must be of type integer"#),
            (#"{"num_predict": 1e300}"#, #"option "num_predict" must be of type integer"#),
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
        #expect(Timestamp.rfc3339(seconds: 981_173_106, nanoseconds: 5) == "2001-02-03T04:05:06.000000005Z")
        #expect(Timestamp.rfc3339(seconds: 981_173_106, nanoseconds: 120_000_000) == "2001-02-03T04:05:06.12Z")
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
    /// Feeds `s` to a fresh matcher of `g`: whether every byte was accepted, and whether the value may end there.
    func run(_ g: JSONGrammar, _ s: String) -> (ok: Bool, complete: Bool) {
        var m = JSONMatcher()
        for b in s.utf8 where !m.feed(b, g) { return (false, false) }
        return (true, m.canEnd(g))
    }

    func schema(_ text: String) throws -> JSONGrammar {
        try JSONGrammar.compile(schema: try JSON.parse(text))
    }

    @Test func jsonModeCompleteObjects() {
        for s in [#"{}"#, #" {"a": 1}"#, #"{"a":[1,-2.5e+3,true,false,null,"x\"\u00e9"],"b":{"c":{}}}"#, "{\"k\":\n  0}", #"{"é":"ü😀"}"#] {
            #expect(run(.jsonObject, s) == (true, true), "\(s)")
        }
    }

    @Test func jsonModePrefixes() {
        for s in [#"{"#, #"{"a"#, #"{"a":"#, #"{"a": [1, 2"#, #"{"a": tr"#, #"{"a": -"#, #"{"a": 1.5e"#, #"{"a":"\u00"#, #"{"a":1"#] {
            #expect(run(.jsonObject, s) == (true, false), "\(s)")
        }
    }

    @Test func jsonModeRejects() {
        for s in ["[1]", "x", "1", #"{"a" 1}"#, #"{"a":01}"#, #"{"a":1,}"#, #"{a:1}"#, #"{"a":tru3}"#, "{\"a\":\"\n\"}", #"{"a":1]"#,
                  #"{}{"#, #"{}  "#, #"{"a":1,  "b":2}"#, "{\n\n\"a\":1}", "{\t\"a\":1}", "{\n" + String(repeating: " ", count: 21), #"{"a":1.}"#, #"{"a":"\x"}"#, "{" + String(repeating: " ", count: 21),
                  #"{"a":12345678901234567}"#, #"{"a":1e123}"#,
                  String(repeating: "{\"a\":", count: 48) + "1"] {
            #expect(!run(.jsonObject, s).ok, "\(s)")
        }
        // Invalid UTF-8 inside strings: a lone continuation byte, an overlong lead, a surrogate.
        for bytes: [UInt8] in [[0x80], [0xC0, 0x80], [0xED, 0xA0, 0x80]] {
            var m = JSONMatcher()
            var ok = true
            for b in #"{"a":""#.utf8 { ok = ok && m.feed(b, .jsonObject) }
            var rest = true
            for b in bytes { rest = rest && m.feed(b, .jsonObject) }
            #expect(ok && !rest)
        }
    }

    @Test func objectPropertiesInSchemaOrderRequiredAndOptional() throws {
        let g = try schema(#"{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"},"tags":{"type":"array","items":{"type":"string"}}},"required":["name","tags"]}"#)
        #expect(run(g, #"{"name":"Tom","age":3,"tags":[]}"#) == (true, true))
        #expect(run(g, #"{ "name" : "Tom" , "tags" : ["a", "b"] }"#) == (true, true))  // optional age skipped
        #expect(!run(g, #"{"age":3"#).ok)                     // name is required first
        #expect(!run(g, #"{"tags":[],"name":"x"}"#).ok)      // schema order
        #expect(!run(g, #"{"name":"x"}"#).ok)                // tags required
        #expect(!run(g, #"{"name":"x","tags":[],"extra":1}"#).ok)  // closed object
        #expect(!run(g, #"{"name":"x","age":3.5"#).ok)       // integer
        #expect(!run(g, #"{"name":"x","nam"#).ok)            // a key prefix that leads nowhere
        #expect(!run(g, "{\"na me\"").ok && !run(g, "{\"n\name\"").ok)  // no whitespace inside keys
        #expect(run(g, "{\n\t\"name\": \"x\",\n  \"tags\": []\n}") == (true, true))
        #expect(!run(g, #"{}"#).ok)
        let optional = try schema(#"{"properties":{"a":{"type":"boolean"},"b":{"type":"null"}},"additionalProperties":false}"#)
        for s in ["{}", #"{"a":true}"#, #"{"b":null}"#, #"{"a":false,"b":null}"#] { #expect(run(optional, s) == (true, true), "\(s)") }
        #expect(!run(optional, #"{"b":null,"a":true}"#).ok)
    }

    @Test func enumsConstsUnionsAndNullable() throws {
        let g = try schema(#"{"type":"object","properties":{"color":{"enum":["red","reddish",1,12,null]},"k":{"const":{"x":[1]}},"n":{"type":["string","null"]},"u":{"anyOf":[{"type":"integer"},{"type":"boolean"},{"type":"array","items":{"type":"number"},"maxItems":2}]}},"required":["color","k","n","u"]}"#)
        for s in [#"{"color":"red","k":{"x":[1]},"n":null,"u":5}"#, #"{"color":"reddish","k":{"x":[1]},"n":"s","u":true}"#,
                  #"{"color":12,"k":{"x":[1]},"n":"","u":[1.5,-2]}"#, #"{"color":1,"k":{"x":[1]},"n":null,"u":[]}"#,
                  #"{"color":null,"k":{"x":[1]},"n":null,"u":false}"#] {
            #expect(run(g, s) == (true, true), "\(s)")
        }
        for s in [#"{"color":"blue""#, #"{"color":"red","k":{"x":[2]}"#, #"{"color":13"#, #"{"color":"red","k":{"x":[1]},"n":3"#,
                  #"{"color":"red","k":{"x":[1]},"n":null,"u":[1,2,3]"#, #"{"color":"red","k":{"x":[1]},"n":null,"u":"s""#] {
            #expect(!run(g, s).ok, "\(s)")
        }
        // integer ⊂ number and string literals ⊂ string merge; two different objects in anyOf are refused.
        #expect(run(try schema(#"{"anyOf":[{"type":"integer"},{"type":"number"}]}"#), "1.5") == (true, true))
        #expect(run(try schema(#"{"oneOf":[{"enum":["a"]},{"type":"string"}]}"#), #""zz""#) == (true, true))
        #expect(throws: APIError.self) { try schema(#"{"anyOf":[{"type":"object","properties":{"a":{}}},{"type":"object","properties":{"b":{}}}]}"#) }
    }

    @Test func stringLengthsArrayBoundsAndNumbers() throws {
        let g = try schema(#"{"type":"array","items":{"type":"string","minLength":2,"maxLength":3},"minItems":1,"maxItems":2}"#)
        for s in [#"["ab"]"#, #"["abc","é😀"]"#, #"["\n\u0041"]"#] { #expect(run(g, s) == (true, true), "\(s)") }
        for s in ["[]", #"["a"]"#, #"["abcd"#, #"["ab","ab","ab"#, #"["ab",]"#] { #expect(!run(g, s).ok || !run(g, s).complete, "\(s)") }
        let n = try schema(#"{"type":"number"}"#)
        for s in ["0", "-0.5", "12e+10", "1E-2", "3.25"] { #expect(run(n, s) == (true, true), "\(s)") }
        for s in ["01", "-", "1.", ".5", "+1", "1e"] { #expect(!run(n, s).ok || !run(n, s).complete, "\(s)") }
        #expect(!run(try schema(#"{"type":"integer"}"#), "1.0").ok)
    }

    @Test func refsAndRecursion() throws {
        let g = try schema(##"{"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer"},"next":{"anyOf":[{"$ref":"#/$defs/node"},{"type":"null"}]}},"required":["v","next"]}},"$ref":"#/$defs/node"}"##)
        #expect(run(g, #"{"v":1,"next":{"v":2,"next":null}}"#) == (true, true))
        #expect(!run(g, #"{"v":1,"next":{"v":2}}"#).ok)
    }

    @Test func unsupportedKeywordsAreClear400s() throws {
        let cases = [
            (#"{"type":"string","pattern":"^a"}"#, #"unsupported keyword "pattern" at #"#),
            (#"{"type":"object","properties":{"n":{"type":"integer","minimum":3}}}"#, #"unsupported keyword "minimum" at #/properties/n"#),
            (#"{"type":"thing"}"#, #"unknown type "thing" at #"#),
            (#"{"type":"object","properties":{"a":{}},"required":["b"]}"#, #"required property "b" is not in properties at #"#),
            (#"{"$ref":"http://x/y"}"#, "only local references"),
            (#"{"type":"array","items":[{}]}"#, "tuple validation"),
            (#"{"enum":[]}"#, "enum at # must be a non-empty array"),
            (#"{"type":"string","maxLength":-1}"#, "maxLength at # must be a non-negative integer"),
        ]
        for (text, want) in cases {
            do { _ = try schema(text); Issue.record("accepted \(text)") } catch let e as APIError {
                #expect(e.status == .badRequest && e.message.hasPrefix("invalid format: JSON schema: ") && e.message.contains(want), "\(e.message)")
            }
        }
        // Annotations are accepted (pydantic's titles and descriptions, format).
        _ = try schema(#"{"title":"T","description":"d","type":"object","properties":{"d":{"type":"string","format":"date-time","title":"D"}},"required":["d"]}"#)
    }

    /// The trie walk gives exactly the tokens a byte-by-byte check of each token accepts, on a vocabulary of
    /// JSON-ish pieces (shared prefixes, multi-byte characters, whole structures in one token).
    @Test func tokenTableWalkEqualsPerTokenCheck() throws {
        var rng = SeededRandom(seed: 7)
        let alphabet: [[UInt8]] = ["{", "}", "[", "]", "\"", ":", ",", " ", "\n", "a", "b", "0", "1", "-", ".", "e", "t", "r", "u", "n",
                                   "l", "é", "\\", "name", "age"].map { Array($0.utf8) }
        var pieces: [[UInt8]] = alphabet + [[], Array("\"name\":".utf8), Array("true".utf8), Array("null".utf8), Array("},{".utf8)]
        for _ in 0..<400 {
            var p: [UInt8] = []
            for _ in 0..<(1 + Int(rng.next() % 4)) { p += alphabet[Int(rng.next() % UInt64(alphabet.count))] }
            pieces.append(p)
        }
        let eog = pieces.count
        let table = TokenTable(pieces: pieces + [[]], endOfGeneration: [eog], logitCount: pieces.count + 3)
        let g = try schema(#"{"type":"object","properties":{"name":{"type":"string","maxLength":4},"age":{"type":"integer"},"l":{"type":"array","items":{"enum":[true,null,"b"]}}},"required":["name"]}"#)
        let doc = #"{"name":"aé","age":-10,"l":[true,null,"b"]}"#
        var m = JSONMatcher()
        for (step, b) in Array(doc.utf8).enumerated() {
            let mask = table.allowed(from: m, g)
            for id in 0..<(pieces.count + 3) {
                let got = mask[id >> 6] & (1 << UInt64(id & 63)) != 0
                let want = id == eog ? m.canEnd(g) : id < pieces.count && !pieces[id].isEmpty && m.accepts(pieces[id], g)
                #expect(got == want, "step \(step) token \(id) \(String(decoding: id < pieces.count ? pieces[id] : [], as: UTF8.self))")
            }
            let fed = m.feed(b, g)
            #expect(fed)
        }
        #expect(m.isDone && m.canEnd(g))
        let end = table.allowed(from: m, g)
        #expect((0..<(pieces.count + 3)).filter { end[$0 >> 6] & (1 << UInt64($0 & 63)) != 0 } == [eog])
    }

    @Test func maskApplicationAndCache() throws {
        let pieces: [[UInt8]] = [Array("{".utf8), Array("}".utf8), Array("\"a\"".utf8), [], Array("x".utf8)]
        let table = TokenTable(pieces: pieces, endOfGeneration: [5], logitCount: 7)
        var c = Constraint(cache: MaskCache(grammar: .jsonObject))
        var logits = [Float](repeating: 1, count: 7)
        #expect(c.apply(&logits, table))
        #expect(logits.map { $0 > -.infinity } == [true, false, false, false, false, false, false])
        for b in "{}".utf8 { let fed = c.matcher.feed(b, .jsonObject); #expect(fed) }
        logits = [Float](repeating: 1, count: 7)
        #expect(c.apply(&logits, table))
        #expect(logits.map { $0 > -.infinity } == [false, false, false, false, false, true, false])
        #expect(c.allows(5, table) && !c.allows(0, table))
        #expect(c.cache.misses == 2 && c.cache.hits == 2)
    }
}
