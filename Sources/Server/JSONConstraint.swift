// JSONConstraint: Ollama's `format: "json"` by constrained sampling — at every step the tokens whose text cannot
// continue a JSON object (llama.cpp's json grammar: root ::= object) get a logit of -inf before the sampler sees
// them, end-of-generation is allowed only once the object is complete (and then it is the only choice). So every
// answer that ends by itself is one valid JSON object. (A JSON schema is phase 2: refused with a clear 400.)
//
// JSONPrefix recognizes byte by byte the prefixes of one object: RFC 8259 values, whitespace between tokens
// (runs capped so a model cannot pad forever), no control characters inside strings.

struct JSONPrefix: Sendable {
    enum State: Equatable, Sendable {
        case start                 // before the root object
        case value                 // a value must come
        case valueOrClose          // just after '['
        case keyOrClose            // just after '{'
        case key                   // after ',' in an object
        case colon                 // after a key
        case afterValue            // ',' or a closing bracket
        case string(key: Bool)
        case escape(key: Bool)
        case unicode(key: Bool, left: Int)
        case minus, zero, integer, dot, fraction, exponent, exponentSign, exponentDigits
        case literal(ArraySlice<UInt8>)
        case done
    }

    var state = State.start
    var stack: [UInt8] = []  // open '{' / '['
    var whitespaceRun = 0
    static let maxWhitespaceRun = 32

    var isComplete: Bool { state == .done }

    /// Feeds one byte; false if no JSON object starts with what has been fed (the state is then unusable).
    mutating func feed(_ b: UInt8) -> Bool {
        let ws = b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09
        switch state {
        case .string, .escape, .unicode: whitespaceRun = 0
        default:
            if ws {
                whitespaceRun += 1
                if whitespaceRun > JSONPrefix.maxWhitespaceRun { return false }
            } else {
                whitespaceRun = 0
            }
        }
        switch state {
        case .start:
            if ws { return true }
            guard b == UInt8(ascii: "{") else { return false }
            stack.append(b)
            state = .keyOrClose
            return true
        case .value, .valueOrClose:
            if ws { return true }
            if state == .valueOrClose && b == UInt8(ascii: "]") { return close(b) }
            return startValue(b)
        case .keyOrClose, .key:
            if ws { return true }
            if state == .keyOrClose && b == UInt8(ascii: "}") { return close(b) }
            guard b == UInt8(ascii: "\"") else { return false }
            state = .string(key: true)
            return true
        case .colon:
            if ws { return true }
            guard b == UInt8(ascii: ":") else { return false }
            state = .value
            return true
        case .afterValue:
            if ws { return true }
            if b == UInt8(ascii: ",") {
                state = stack.last == UInt8(ascii: "{") ? .key : .value
                return true
            }
            return close(b)
        case let .string(key):
            if b == UInt8(ascii: "\"") { state = key ? .colon : .afterValue; return true }
            if b == UInt8(ascii: "\\") { state = .escape(key: key); return true }
            return b >= 0x20
        case let .escape(key):
            if b == UInt8(ascii: "u") { state = .unicode(key: key, left: 4); return true }
            guard Array("\"\\/bfnrt".utf8).contains(b) else { return false }
            state = .string(key: key)
            return true
        case let .unicode(key, left):
            guard (b >= 0x30 && b <= 0x39) || (b | 0x20 >= 0x61 && b | 0x20 <= 0x66) else { return false }
            state = left == 1 ? .string(key: key) : .unicode(key: key, left: left - 1)
            return true
        case .minus:
            if b == UInt8(ascii: "0") { state = .zero; return true }
            guard isDigit(b) else { return false }
            state = .integer
            return true
        case .zero, .integer:
            if state == .integer && isDigit(b) { return true }
            if b == UInt8(ascii: ".") { state = .dot; return true }
            if b == UInt8(ascii: "e") || b == UInt8(ascii: "E") { state = .exponent; return true }
            return endNumber(b, ws)
        case .dot:
            guard isDigit(b) else { return false }
            state = .fraction
            return true
        case .fraction:
            if isDigit(b) { return true }
            if b == UInt8(ascii: "e") || b == UInt8(ascii: "E") { state = .exponent; return true }
            return endNumber(b, ws)
        case .exponent:
            if b == UInt8(ascii: "+") || b == UInt8(ascii: "-") { state = .exponentSign; return true }
            guard isDigit(b) else { return false }
            state = .exponentDigits
            return true
        case .exponentSign:
            guard isDigit(b) else { return false }
            state = .exponentDigits
            return true
        case .exponentDigits:
            if isDigit(b) { return true }
            return endNumber(b, ws)
        case let .literal(rest):
            guard rest.first == b else { return false }
            state = rest.count == 1 ? .afterValue : .literal(rest.dropFirst())
            return true
        case .done:
            return false
        }
    }

    private func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }

    private mutating func startValue(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "{"): stack.append(b); state = .keyOrClose
        case UInt8(ascii: "["): stack.append(b); state = .valueOrClose
        case UInt8(ascii: "\""): state = .string(key: false)
        case UInt8(ascii: "-"): state = .minus
        case UInt8(ascii: "0"): state = .zero
        case UInt8(ascii: "1")...UInt8(ascii: "9"): state = .integer
        case UInt8(ascii: "t"): state = .literal(Array("rue".utf8)[...])
        case UInt8(ascii: "f"): state = .literal(Array("alse".utf8)[...])
        case UInt8(ascii: "n"): state = .literal(Array("ull".utf8)[...])
        default: return false
        }
        return true
    }

    /// A number ends at whitespace, ',' or a closing bracket.
    private mutating func endNumber(_ b: UInt8, _ ws: Bool) -> Bool {
        state = .afterValue
        return ws || feed(b)
    }

    private mutating func close(_ b: UInt8) -> Bool {
        guard let open = stack.last, (open == UInt8(ascii: "{") && b == UInt8(ascii: "}")) || (open == UInt8(ascii: "[") && b == UInt8(ascii: "]")) else { return false }
        stack.removeLast()
        state = stack.isEmpty ? .done : .afterValue
        return true
    }

    /// Whether all of `bytes` can follow.
    func accepts(_ bytes: [UInt8]) -> Bool {
        var s = self
        for b in bytes where !s.feed(b) { return false }
        return true
    }
}

/// Sets to -inf the logits of every token that cannot come next in JSON mode. `pieces[id]` is the token's text;
/// `isEnd[id]` marks end-of-generation tokens, allowed exactly when the object is complete.
func maskJSON(_ logits: inout [Float], state: JSONPrefix, pieces: [[UInt8]], isEnd: [Bool]) {
    let complete = state.isComplete
    // Most tokens fail on their first byte: decide the 256 first bytes once per step.
    var first = [Bool](repeating: false, count: 256)
    for b in 0..<256 { var s = state; first[b] = s.feed(UInt8(b)) }
    for id in 0..<min(logits.count, pieces.count) {
        if isEnd[id] {
            if !complete { logits[id] = -.infinity }
        } else if complete || pieces[id].isEmpty || !first[Int(pieces[id][0])] || !state.accepts(pieces[id]) {
            logits[id] = -.infinity
        }
    }
    for id in pieces.count..<logits.count { logits[id] = -.infinity }
}
