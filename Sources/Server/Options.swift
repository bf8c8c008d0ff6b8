// Options: Ollama's `options` map (api/types.go Options.FromMap) and `keep_alive` durations, decoded into what
// the scheduler needs. Unknown keys are ignored with a log line; a wrong type is a 400 with Ollama's wording
// (`option "top_k" must be of type integer`). The same decoding reads a manifest's default parameters and
// /api/create's `parameters`, so a bad value is caught when the model is created, not when it is used.
import Formats
import Foundation
import Infer

/// Everything one generation request asks of the sampler and the scheduler.
public struct GenerationSettings: Sendable, Equatable {
    public var sampling: SamplingOptions
    /// Tokens to generate: ≥ 0 at most that many; any negative value no limit (Ollama caps it at 10 × num_ctx; the
    /// context shifts when full).
    public var numPredict = -1
    public var stop: [String] = []
    /// Context length for this sequence; nil: the server's default.
    public var numCtx: Int? = nil
    /// Tokens kept from the start of a prompt that has to be truncated or a context that shifts (Ollama's num_keep;
    /// negative: the whole prompt).
    public var numKeep = 4
    /// The request's `shift` (not an option): shift the context when it is full, else stop with "length".
    public var shift = true

    /// Ollama's defaults (api/types.go DefaultOptions).
    public init() {
        var s = SamplingOptions()
        s.temperature = 0.8
        s.topK = 40
        s.topP = 0.9
        s.minP = 0
        s.typicalP = 1
        s.repeatLastN = 64
        s.repeatPenalty = 1.0
        s.presencePenalty = 0
        s.frequencyPenalty = 0
        s.seed = nil
        sampling = s
    }

    /// Option names Ollama's Options struct knows, with their Go kinds. Anything else is ignored.
    enum Kind { case int, float, bool, strings }
    static let known: [String: Kind] = [
        "num_keep": .int, "seed": .int, "num_predict": .int, "top_k": .int, "top_p": .float, "min_p": .float,
        "typical_p": .float, "repeat_last_n": .int, "temperature": .float, "repeat_penalty": .float,
        "presence_penalty": .float, "frequency_penalty": .float, "stop": .strings,
        // runner (load-time) options
        "num_ctx": .int, "num_batch": .int, "num_gpu": .int, "main_gpu": .int, "use_mmap": .bool,
        "num_thread": .int, "draft_num_predict": .int,
    ]

    /// Applies an options map over these settings. `ignored` receives each unknown key.
    public mutating func apply(_ options: [(String, JSON)], ignored: (String) -> Void = { _ in }) throws(APIError) {
        for (key, value) in options {
            guard let kind = GenerationSettings.known[key] else { ignored(key); continue }
            if case .null = value { continue }
            switch kind {
            case .int:
                let i: Int
                switch value {
                case let .int(v): i = v
                case let .double(d) where d.isFinite && abs(d) < 9e15: i = Int(d)  // Go: float64 → int64 truncation
                default: throw .badRequest("option \"\(key)\" must be of type integer")
                }
                try setInt(key, i)
            case .float:
                let d: Double
                switch value {
                case let .int(v): d = Double(v)
                case let .double(v): d = v
                default: throw .badRequest("option \"\(key)\" must be of type float32")
                }
                setFloat(key, Float(d))
            case .bool:
                guard case .bool = value else { throw .badRequest("option \"\(key)\" must be of type boolean") }
            case .strings:
                guard case let .array(a) = value else { throw .badRequest("option \"\(key)\" must be of type array") }
                var out: [String] = []
                for e in a {
                    guard case let .string(s) = e else { throw .badRequest("option \"\(key)\" must be of an array of strings") }
                    out.append(s)
                }
                stop = out
            }
        }
    }

    private mutating func setInt(_ key: String, _ v: Int) throws(APIError) {
        switch key {
        case "num_keep": numKeep = v
        case "seed": sampling.seed = v < 0 ? nil : UInt64(v)
        case "num_predict": numPredict = v
        case "top_k": sampling.topK = v
        case "repeat_last_n": sampling.repeatLastN = v
        case "num_ctx": numCtx = v
        default: break  // GPU / batch / thread knobs: accepted, not used on this CPU server
        }
    }

    private mutating func setFloat(_ key: String, _ v: Float) {
        switch key {
        case "top_p": sampling.topP = v
        case "min_p": sampling.minP = v
        case "typical_p": sampling.typicalP = v
        case "temperature": sampling.temperature = v
        case "repeat_penalty": sampling.repeatPenalty = v
        case "presence_penalty": sampling.presencePenalty = v
        case "frequency_penalty": sampling.frequencyPenalty = v
        default: break
        }
    }

    /// Bounds no sampler or scheduler can work outside of.
    public func validate() throws(APIError) {
        do { try sampling.validate() } catch { throw .badRequest("\(error)") }
        guard sampling.topK >= 0 else { throw .badRequest("top_k must be 0 or positive") }
        if let c = numCtx, c < 1 { throw .badRequest("num_ctx must be positive") }
    }
}

/// How long a model stays loaded after a request: Ollama's `keep_alive` (number = seconds, string = Go duration;
/// negative = forever; 0 = unload right after the request).
public enum KeepAlive: Sendable, Equatable, CustomStringConvertible {
    case forever
    case seconds(Double)

    public static func parse(_ v: JSON) throws(APIError) -> KeepAlive {
        switch v {
        case let .int(i): return i < 0 ? .forever : .seconds(Double(i))
        case let .double(d): return d < 0 ? .forever : .seconds(d)
        case let .string(s):
            guard let d = KeepAlive.goDuration(s) else {
                let bare = Double(s.trimmingCharacters(in: CharacterSet(charactersIn: "+-"))) != nil
                throw .badRequest(bare ? "time: missing unit in duration \"\(s)\"" : "time: invalid duration \"\(s)\"")
            }
            return d < 0 ? .forever : .seconds(d)
        default:
            throw .badRequest("Unsupported type: '\(RequestJSON.kind(v))'")
        }
    }

    /// Go's time.ParseDuration ("300ms", "1.5h", "2h45m", "-1m", "0"), in seconds.
    public static func goDuration(_ text: String) -> Double? {
        var s = Substring(text)
        var sign = 1.0
        if s.first == "-" || s.first == "+" { if s.first == "-" { sign = -1 }; s = s.dropFirst() }
        if s == "0" { return 0 }
        guard !s.isEmpty else { return nil }
        let units: [(String, Double)] = [("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("μs", 1e-6), ("ms", 1e-3), ("s", 1), ("m", 60), ("h", 3600)]
        var total = 0.0
        while !s.isEmpty {
            let num = s.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            guard !num.isEmpty, num != ".", let value = Double(num) else { return nil }
            s = s.dropFirst(num.count)
            guard let (u, scale) = units.first(where: { s.hasPrefix($0.0) && !(($0.0 == "m") && s.hasPrefix("ms")) }) else { return nil }
            s = s.dropFirst(u.count)
            total += value * scale
        }
        return sign * total
    }

    public var description: String {
        switch self {
        case .forever: "forever"
        case let .seconds(s): "\(s)s"
        }
    }
}
