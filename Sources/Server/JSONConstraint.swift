// JSONConstraint: constrained sampling for Ollama's `format` ("json" or a JSON schema, compiled by JSONSchema.swift).
// Before each sample every token whose text cannot continue the output within the grammar gets a logit of -inf;
// end-of-generation is allowed only once the value is complete. So every answer that ends by itself is valid JSON
// (that validates against the schema).
//
// - JSONMatcher: where the output is in the grammar — a stack of frames (one per open object / array / string /
//   number / literal), fed byte by byte. A value type; the top frame is kept outside the stack so feeding a byte
//   usually copies no heap memory. Hashable: the allowed tokens depend on nothing else.
// - TokenTable: the vocabulary's token texts sorted bytewise, with each one's common prefix with the previous one —
//   a flattened token trie. `allowed` walks it once, sharing the matcher states of common prefixes and skipping every
//   token under a rejected prefix.
// - MaskCache: allowed-token bitsets per matcher state, per grammar. Outputs revisit the same few states (inside a
//   string, after a key …), so after the first answers a step costs a hash lookup and applying a bitset.
// Whitespace between tokens is llama.cpp's (one space, or a newline and at most 20 indents), numbers at 16 digits (exponents 2), nesting at 48 levels,
// so a model cannot pad or grow one value forever.
import Infer

struct JSONMatcher: Hashable, Sendable {
    enum Phase: UInt8, Hashable, Sendable {
        // declared-property object: a = last property index (objAfter, objNext), key offset (objKey)
        case objFirst, objKey, objColon, objValue, objAfter, objNext
        // map (any keys)
        case mapFirst, mapColon, mapValue, mapAfter, mapKey
        // array: a = items so far (capped)
        case arrFirst, arrAfter, arrNext
        // string: a = characters so far (capped); strUTF8: mask = continuation bytes left << 16 | lo << 8 | hi
        case str, strEscape, strHex, strUTF8
        // number: a = digits in the current part
        case minus, zero, integer, dot, fraction, exponent, exponentSign, exponentDigits
        // literal: a = trie node
        case literal
    }

    struct Frame: Hashable, Sendable {
        var node: Int32
        var phase: Phase
        var a: Int32 = 0
        var mask: UInt64 = 0
    }

    /// Frames under `top`, outermost first.
    private(set) var below: [Frame] = []
    /// The innermost open frame (nil: the root value has not started, or it has ended).
    private(set) var top: Frame?
    private(set) var started = false
    private var whitespace: UInt8 = 0

    /// 1 + the indentation allowed after a newline between tokens.
    static let maxIndent: UInt8 = 21
    static let maxDigits: Int32 = 16
    static let maxExponentDigits: Int32 = 2
    static let maxDepth = 48

    /// The root value is complete: only end-of-generation may follow.
    var isDone: Bool { started && top == nil }

    /// End-of-generation may come now: the root is done, or it is a number / literal that may end here.
    func canEnd(_ g: JSONGrammar) -> Bool {
        if isDone { return true }
        guard below.isEmpty, let f = top else { return false }
        switch f.phase {
        case .zero, .integer, .fraction, .exponentDigits: return true
        case .literal:
            guard case let .literals(t) = g.resolve(Int(f.node)) else { return false }
            return t.terminal[Int(f.a)]
        default: return false
        }
    }

    /// Feeds one byte; false if the grammar allows no output starting with what has been fed (the matcher is then
    /// unusable).
    mutating func feed(_ b: UInt8, _ g: JSONGrammar) -> Bool {
        guard var f = top else {
            if started { return false }
            if isSpace(b) { return space(b) }
            started = true
            return start(g.root, b, g)
        }
        switch f.phase {
        case .str:
            if b == UInt8(ascii: "\"") {
                if f.node >= 0, case let .string(mn, _) = g.resolve(Int(f.node)), f.a < mn { return false }
                return pop()
            }
            guard b >= 0x20, countChar(&f, g) else { return false }
            if b == UInt8(ascii: "\\") { f.phase = .strEscape; top = f; return true }
            if b < 0x80 { top = f; return true }
            // UTF-8 lead byte: how many continuation bytes follow, and the range of the first one.
            let (n, lo, hi): (UInt64, UInt64, UInt64)
            switch b {
            case 0xC2...0xDF: (n, lo, hi) = (1, 0x80, 0xBF)
            case 0xE0: (n, lo, hi) = (2, 0xA0, 0xBF)
            case 0xE1...0xEC, 0xEE...0xEF: (n, lo, hi) = (2, 0x80, 0xBF)
            case 0xED: (n, lo, hi) = (2, 0x80, 0x9F)
            case 0xF0: (n, lo, hi) = (3, 0x90, 0xBF)
            case 0xF1...0xF3: (n, lo, hi) = (3, 0x80, 0xBF)
            case 0xF4: (n, lo, hi) = (3, 0x80, 0x8F)
            default: return false
            }
            f.phase = .strUTF8
            f.mask = n << 16 | lo << 8 | hi
            top = f
            return true
        case .strUTF8:
            let n = f.mask >> 16, lo = (f.mask >> 8) & 0xFF, hi = f.mask & 0xFF
            guard UInt64(b) >= lo && UInt64(b) <= hi else { return false }
            if n == 1 { f.phase = .str; f.mask = 0 } else { f.mask = (n - 1) << 16 | 0x80 << 8 | 0xBF }
            top = f
            return true
        case .strEscape:
            if b == UInt8(ascii: "u") { f.phase = .strHex; f.mask = 4; top = f; return true }
            guard b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") || b == UInt8(ascii: "/") || b == UInt8(ascii: "b")
                || b == UInt8(ascii: "f") || b == UInt8(ascii: "n") || b == UInt8(ascii: "r") || b == UInt8(ascii: "t") else { return false }
            f.phase = .str
            top = f
            return true
        case .strHex:
            guard isHex(b) else { return false }
            if f.mask == 1 { f.phase = .str; f.mask = 0 } else { f.mask -= 1 }
            top = f
            return true
        case .literal:
            guard case let .literals(t) = g.resolve(Int(f.node)) else { return false }
            if let c = t.child(Int(f.a), b) { f.a = Int32(c); top = f; return true }
            guard t.terminal[Int(f.a)], pop() else { return false }
            return feed(b, g)
        case .minus, .zero, .integer, .dot, .fraction, .exponent, .exponentSign, .exponentDigits:
            return number(&f, b, g)
        case .objKey:
            return key(&f, b, g)
        default:
            break
        }
        // Structural phases: whitespace may come between tokens.
        if isSpace(b) { return space(b) }
        whitespace = 0
        switch f.phase {
        case .objFirst, .objNext:
            guard case let .object(o) = g.resolve(Int(f.node)) else { return false }
            let from = f.phase == .objFirst ? 0 : Int(f.a) + 1
            if b == UInt8(ascii: "}") && f.phase == .objFirst {
                guard !o.required.contains(true) else { return false }
                return pop()
            }
            guard b == UInt8(ascii: "\"") else { return false }
            let candidates = JSONMatcher.nextKeys(o, from: from)
            guard candidates != 0 else { return false }
            f.phase = .objKey
            f.a = 1
            f.mask = candidates
            top = f
            return true
        case .objColon:
            guard b == UInt8(ascii: ":") else { return false }
            f.phase = .objValue
            top = f
            return true
        case .objValue:
            guard case let .object(o) = g.resolve(Int(f.node)) else { return false }
            f.phase = .objAfter
            top = f
            return start(o.values[Int(f.a)], b, g)
        case .objAfter:
            guard case let .object(o) = g.resolve(Int(f.node)) else { return false }
            let i = Int(f.a)
            if b == UInt8(ascii: "}") {
                guard !o.required[(i + 1)...].contains(true) else { return false }
                return pop()
            }
            guard b == UInt8(ascii: ","), JSONMatcher.nextKeys(o, from: i + 1) != 0 else { return false }
            f.phase = .objNext
            top = f
            return true
        case .mapFirst, .mapKey:
            if b == UInt8(ascii: "}") && f.phase == .mapFirst { return pop() }
            guard b == UInt8(ascii: "\"") else { return false }
            f.phase = .mapColon
            top = f
            return push(Frame(node: -1, phase: .str))  // node -1: a key, any string
        case .mapColon:
            guard b == UInt8(ascii: ":") else { return false }
            f.phase = .mapValue
            top = f
            return true
        case .mapValue:
            guard case let .map(value) = g.resolve(Int(f.node)) else { return false }
            f.phase = .mapAfter
            top = f
            return start(value, b, g)
        case .mapAfter:
            if b == UInt8(ascii: "}") { return pop() }
            guard b == UInt8(ascii: ",") else { return false }
            f.phase = .mapKey
            top = f
            return true
        case .arrFirst, .arrNext:
            guard case let .array(items, mn, mx) = g.resolve(Int(f.node)) else { return false }
            if b == UInt8(ascii: "]") && f.phase == .arrFirst {
                guard mn == 0 else { return false }
                return pop()
            }
            if let mx, Int(f.a) >= mx { return false }
            f.phase = .arrAfter
            f.a = Int32(min(Int(f.a) + 1, max(mn, mx ?? mn)))  // counts past min and max are all alike
            top = f
            return start(items, b, g)
        case .arrAfter:
            guard case let .array(_, mn, mx) = g.resolve(Int(f.node)) else { return false }
            if b == UInt8(ascii: "]") {
                guard Int(f.a) >= mn else { return false }
                return pop()
            }
            guard b == UInt8(ascii: ","), mx == nil || Int(f.a) < mx! else { return false }
            f.phase = .arrNext
            top = f
            return true
        default:
            return false
        }
    }

    /// A byte of a declared property's key: the candidates (mask) whose quoted key has `b` at offset a.
    private mutating func key(_ f: inout Frame, _ b: UInt8, _ g: JSONGrammar) -> Bool {
        guard case let .object(o) = g.resolve(Int(f.node)) else { return false }
        var next: UInt64 = 0, done = -1
        var m = f.mask
        while m != 0 {
            let i = m.trailingZeroBitCount
            m &= m - 1
            let k = o.keys[i]
            if Int(f.a) < k.count && k[Int(f.a)] == b {
                next |= 1 << UInt64(i)
                if Int(f.a) + 1 == k.count { done = i }
            }
        }
        guard next != 0 else { return false }
        if done >= 0 { f.phase = .objColon; f.a = Int32(done); f.mask = 0 } else { f.a += 1; f.mask = next }
        top = f
        return true
    }

    /// Properties that may come next after property `from - 1`: the optional ones up to and including the first
    /// required one (required properties cannot be skipped; the order is the schema's).
    static func nextKeys(_ o: JSONGrammar.Object, from: Int) -> UInt64 {
        var m: UInt64 = 0
        var i = from
        while i < o.keys.count {
            m |= 1 << UInt64(i)
            if o.required[i] { break }
            i += 1
        }
        return m
    }

    /// Counts one more character of a string against its maxLength (a key, node -1, has none).
    private func countChar(_ f: inout Frame, _ g: JSONGrammar) -> Bool {
        guard f.node >= 0, case let .string(mn, mx) = g.resolve(Int(f.node)) else { return true }
        if let mx, Int(f.a) >= mx { return false }
        f.a = Int32(min(Int(f.a) + 1, max(mn, mx ?? mn)))
        return true
    }

    /// Starts a value of node `i` with its first byte.
    private mutating func start(_ i: Int, _ b: UInt8, _ g: JSONGrammar) -> Bool {
        let node = Int32(i)
        switch g.resolve(i) {
        case .object:
            guard b == UInt8(ascii: "{") else { return false }
            return push(Frame(node: node, phase: .objFirst))
        case .map:
            guard b == UInt8(ascii: "{") else { return false }
            return push(Frame(node: node, phase: .mapFirst))
        case .array:
            guard b == UInt8(ascii: "[") else { return false }
            return push(Frame(node: node, phase: .arrFirst))
        case .string:
            guard b == UInt8(ascii: "\"") else { return false }
            return push(Frame(node: node, phase: .str))
        case .integer, .number:
            switch b {
            case UInt8(ascii: "-"): return push(Frame(node: node, phase: .minus))
            case UInt8(ascii: "0"): return push(Frame(node: node, phase: .zero))
            case UInt8(ascii: "1")...UInt8(ascii: "9"): return push(Frame(node: node, phase: .integer, a: 1))
            default: return false
            }
        case let .literals(t):
            guard let c = t.child(0, b) else { return false }
            return push(Frame(node: node, phase: .literal, a: Int32(c)))
        case let .union(table):
            guard let k = JSONGrammar.Kind(first: b), table[k.rawValue] >= 0 else { return false }
            return start(table[k.rawValue], b, g)
        case .alias:
            preconditionFailure("resolve() follows aliases")
        }
    }

    private mutating func number(_ f: inout Frame, _ b: UInt8, _ g: JSONGrammar) -> Bool {
        let isInteger: Bool
        if case .integer = g.resolve(Int(f.node)) { isInteger = true } else { isInteger = false }
        let digit = b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")
        let dot = b == UInt8(ascii: "."), exp = b == UInt8(ascii: "e") || b == UInt8(ascii: "E")
        switch f.phase {
        case .minus:
            guard digit else { return false }
            f.phase = b == UInt8(ascii: "0") ? .zero : .integer
            f.a = 1
        case .zero, .integer:
            if digit && f.phase == .integer && f.a < JSONMatcher.maxDigits { f.a += 1 }
            else if dot && !isInteger { f.phase = .dot; f.a = 0 }
            else if exp && !isInteger { f.phase = .exponent; f.a = 0 }
            else if digit { return false }
            else { return pop() && feed(b, g) }
        case .dot:
            guard digit else { return false }
            f.phase = .fraction
            f.a = 1
        case .fraction:
            if digit && f.a < JSONMatcher.maxDigits { f.a += 1 }
            else if exp { f.phase = .exponent; f.a = 0 }
            else if digit { return false }
            else { return pop() && feed(b, g) }
        case .exponent:
            if b == UInt8(ascii: "+") || b == UInt8(ascii: "-") { f.phase = .exponentSign }
            else if digit { f.phase = .exponentDigits; f.a = 1 }
            else { return false }
        case .exponentSign:
            guard digit else { return false }
            f.phase = .exponentDigits
            f.a = 1
        case .exponentDigits:
            if digit && f.a < JSONMatcher.maxExponentDigits { f.a += 1 }
            else if digit { return false }
            else { return pop() && feed(b, g) }
        default:
            return false
        }
        top = f
        return true
    }

    private mutating func push(_ f: Frame) -> Bool {
        if let t = top {
            guard below.count + 2 <= JSONMatcher.maxDepth else { return false }
            below.append(t)
        }
        top = f
        whitespace = 0
        return true
    }

    /// Ends the innermost value.
    private mutating func pop() -> Bool {
        top = below.popLast()
        return true
    }

    /// Whitespace between tokens, as llama.cpp's JSON grammars allow it: nothing, one space, or a newline and up to
    /// 20 spaces / tabs of indentation. (`whitespace`: 0 none yet, 1 + n after a newline and n indents, 255 after a
    /// space.)
    private mutating func space(_ b: UInt8) -> Bool {
        switch whitespace {
        case 0:
            if b == 0x20 { whitespace = 255; return true }
            if b == 0x0A { whitespace = 1; return true }
            return false
        case 1..<JSONMatcher.maxIndent:
            guard b == 0x20 || b == 0x09 else { return false }
            whitespace += 1
            return true
        default:
            return false
        }
    }

    @inline(__always) private func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 }
    @inline(__always) private func isHex(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b | 0x20 >= 0x61 && b | 0x20 <= 0x66)
    }

    /// Whether all of `bytes` can follow.
    func accepts(_ bytes: [UInt8], _ g: JSONGrammar) -> Bool {
        var m = self
        for b in bytes where !m.feed(b, g) { return false }
        return true
    }
}

/// The vocabulary as a flattened trie: token texts in bytewise order, each with its common prefix with the one
/// before. Tokens with no text (control tokens) and end-of-generation tokens are kept apart.
final class TokenTable: @unchecked Sendable {
    /// Token ids in bytewise order of their texts.
    let order: [Int32]
    /// Text of order[k]: bytes[start[k] ..< start[k + 1]].
    let bytes: [UInt8]
    let start: [Int32]
    /// Bytes order[k] shares with order[k - 1] (0 for k = 0).
    let common: [Int32]
    let endOfGeneration: [Int]
    let longest: Int
    /// Logits per row (the network's vocabulary, which may exceed the tokenizer's).
    let logitCount: Int

    convenience init(tokenizer: any Tokenizer, logitCount: Int) {
        let ids = 0..<tokenizer.vocabularySize
        self.init(pieces: ids.map { tokenizer.piece($0, special: false) }, endOfGeneration: ids.filter { tokenizer.isEndOfGeneration($0) },
                  logitCount: logitCount)
    }

    /// `pieces[id]`: token id's text; end-of-generation tokens are allowed only when the value may end.
    init(pieces: [[UInt8]], endOfGeneration eog: [Int], logitCount: Int) {
        var texts: [(id: Int32, text: [UInt8])] = []
        for (id, t) in pieces.enumerated() where !t.isEmpty && !eog.contains(id) { texts.append((Int32(id), t)) }
        texts.sort { $0.text.lexicographicallyPrecedes($1.text) }
        var bytes: [UInt8] = [], start: [Int32] = [], common: [Int32] = []
        var previous: [UInt8] = []
        var longest = 0
        for (_, t) in texts {
            start.append(Int32(bytes.count))
            bytes += t
            var c = 0
            while c < min(t.count, previous.count) && t[c] == previous[c] { c += 1 }
            common.append(Int32(c))
            previous = t
            longest = max(longest, t.count)
        }
        start.append(Int32(bytes.count))
        order = texts.map(\.id)
        self.bytes = bytes
        self.start = start
        self.common = common
        endOfGeneration = eog
        self.longest = longest
        self.logitCount = logitCount
    }

    /// Bitset (logitCount bits) of the tokens that may come next from `m`: one walk over the sorted texts, each
    /// prefix fed once, every token under a rejected prefix skipped without feeding.
    func allowed(from m: JSONMatcher, _ g: JSONGrammar) -> [UInt64] {
        var mask = [UInt64](repeating: 0, count: (logitCount + 63) / 64)
        var states = [JSONMatcher](repeating: m, count: longest + 1)  // states[d]: after d bytes of the current text
        var valid = 0          // states[0...valid] hold the previous text's prefixes
        var rejectedAt = Int.max  // the previous text's byte at this depth was refused
        bytes.withUnsafeBufferPointer { bytes in
            for k in 0..<order.count {
                let shared = Int(common[k])
                if shared > rejectedAt { continue }  // shares the refused prefix
                rejectedAt = Int.max
                let s = Int(start[k]), n = Int(start[k + 1]) - s
                var d = min(shared, valid)
                while d < n {
                    var next = states[d]
                    if !next.feed(bytes[s + d], g) { rejectedAt = d; break }
                    states[d + 1] = next
                    d += 1
                }
                valid = d
                if d == n {
                    let id = Int(order[k])
                    mask[id >> 6] |= 1 << UInt64(id & 63)
                }
            }
        }
        if m.canEnd(g) {
            for id in endOfGeneration where id < logitCount { mask[id >> 6] |= 1 << UInt64(id & 63) }
        }
        return mask
    }
}

/// Allowed-token masks by matcher state, for one grammar. Used only on its model's decode thread.
final class MaskCache: @unchecked Sendable {
    let grammar: JSONGrammar
    private var masks: [JSONMatcher: [UInt64]] = [:]
    private(set) var hits = 0, misses = 0
    /// Bits kept at most per grammar (then the cache starts over).
    static let maxBits = 512 << 20

    init(grammar: JSONGrammar) { self.grammar = grammar }

    func mask(_ m: JSONMatcher, _ table: TokenTable) -> [UInt64] {
        if let hit = masks[m] { hits += 1; return hit }
        misses += 1
        let mask = table.allowed(from: m, grammar)
        if (masks.count + 1) * mask.count * 64 > MaskCache.maxBits { masks.removeAll() }
        masks[m] = mask
        return mask
    }
}

/// One sequence's constraint: its grammar's cache and where the output is.
struct Constraint {
    let cache: MaskCache
    var matcher = JSONMatcher()

    /// Sets every refused token's logit to -inf; returns false if nothing is allowed.
    func apply(_ logits: inout [Float], _ table: TokenTable) -> Bool {
        let mask = cache.mask(matcher, table)
        var any = false
        logits.withUnsafeMutableBufferPointer { l in
            for w in 0..<mask.count {
                let word = mask[w]
                if word != 0 { any = true }
                if word == ~0 { continue }
                let base = w << 6
                guard base < l.count else { break }
                for bit in 0..<min(64, l.count - base) where word & (1 << UInt64(bit)) == 0 { l[base + bit] = -.infinity }
            }
            for i in min(mask.count << 6, l.count)..<l.count { l[i] = -.infinity }
        }
        return any
    }

    func allows(_ token: Int, _ table: TokenTable) -> Bool {
        let mask = cache.mask(matcher, table)
        return token < mask.count << 6 && mask[token >> 6] & (1 << UInt64(token & 63)) != 0
    }
}
