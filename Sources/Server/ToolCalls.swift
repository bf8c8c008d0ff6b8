// ToolCalls: the model's output → tool calls and content, as Ollama's tools.Parser does it (tools/tools.go). Output
// is fed piece by piece; text before the template's tool-call tag (ToolTemplate.swift) goes out as content at once,
// a tail that may be the start of the tag is held back, and from the tag on the buffer is scanned for a tool name
// of the request followed by a JSON object: {"name", "arguments" | "parameters"} (arguments may also be a JSON
// string), an object keyed by the tool's name, or the first other object after the name. For the tags "{" and "["
// (templates whose calls are bare JSON) a call must come first: leading text turns the parser off, and a balanced
// object or list that is no call is handed back as content. After a call has been found, the rest is not content.
// Not here: the HTTP side (ToolCallsAPI.swift).
import Formats
import Foundation
import Infer

/// One parsed call; `index` counts the calls of one answer from 0.
struct ToolCall: Equatable, Sendable {
    var index: Int
    var name: String
    var arguments: JSON
}

struct ToolCallParser: Sendable {
    enum State: Sendable { case lookingForTag, toolCalling, done }

    let tag: [UInt8]
    /// Tool names of the request, in request order.
    let names: [[UInt8]]
    private(set) var state = State.lookingForTag
    private(set) var buffer: [UInt8] = []
    /// Calls found so far.
    private(set) var count = 0

    init(tag: String, toolNames: [String]) {
        self.tag = Array(tag.utf8)
        names = toolNames.map { Array($0.utf8) }
    }

    /// The names of a request's `tools` ({"type": "function", "function": {"name", …}}).
    static func toolNames(_ tools: [JSON]) -> [String] {
        tools.compactMap { if case let .string(s)? = $0["function"]?["name"] { s } else { nil } }
    }

    private var bareJSON: Bool { tag == [UInt8(ascii: "{")] || tag == [UInt8(ascii: "[")] }

    /// Adds a piece of output; returns the calls completed by it and the content that can be shown now.
    mutating func add(_ s: String) -> (calls: [ToolCall], content: String) {
        if state == .done { return ([], s) }
        buffer += Array(s.utf8)
        var content = ""
        if state == .lookingForTag {
            let (i, found) = findTag()
            if i < 0 {
                content = text(buffer)
                buffer = []
            } else {
                content = text(buffer[..<i])
                buffer = Array(buffer[i...])
            }
            if bareJSON && !content.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                state = .done
                defer { buffer = [] }
                return ([], content + text(buffer))
            }
            if !found { return ([], content) }
            state = .toolCalling
        }
        var calls: [ToolCall] = []
        while let call = parseToolCall() { calls.append(call) }
        if isClosed() {
            state = .done
            content = text(buffer)
            buffer = []
        }
        return (calls, content)
    }

    /// What is left to show when the answer ends: for bare-JSON tags with no call found, the held text.
    func remainingContent() -> String {
        if count > 0 { return "" }
        return bareJSON ? text(buffer) : ""
    }

    private func text<C: Collection>(_ b: C) -> String where C.Element == UInt8 { String(decoding: b, as: UTF8.self) }

    /// Where the tag starts (found), or where a tail that could begin it starts (not found), or -1.
    func findTag() -> (Int, Bool) { ToolCallParser.findTagIn(buffer, tag: tag) }

    static func findTagIn(_ buffer: [UInt8], tag: [UInt8]) -> (Int, Bool) {
        if let i = index(of: tag, in: buffer[...]) { return (i, true) }
        var n = min(buffer.count, tag.count)
        while n > 0 {
            if buffer.suffix(n).elementsEqual(tag.prefix(n)) { return (buffer.count - n, false) }
            n -= 1
        }
        return (-1, false)
    }

    /// The next complete call in the buffer; the buffer then starts where it ended.
    private mutating func parseToolCall() -> ToolCall? {
        guard let (name, nameEnd) = ToolCallParser.findTool(names, buffer) else { return nil }
        guard let (args, argsEnd) = ToolCallParser.findArguments(tool: name, buffer) else { return nil }
        let end = max(nameEnd, argsEnd)
        let call = ToolCall(index: count, name: String(decoding: name, as: UTF8.self), arguments: args)
        count += 1
        buffer = Array(buffer[end...])
        return call
    }

    /// The earliest tool name in the buffer (the longer one on a tie) and where it ends; nil while the buffer ends
    /// in what could still become a longer name ("get" of "get_weather").
    static func findTool(_ names: [[UInt8]], _ buf: [UInt8]) -> ([UInt8], Int)? {
        guard !buf.isEmpty else { return nil }
        let longest = names.map(\.count).max() ?? 0
        if longest > 0 {
            for i in 1...min(buf.count, longest) {
                let tail = buf.suffix(i)
                for name in names where tail.count < name.count && name.starts(with: tail) { return nil }
            }
        }
        var found: [UInt8]?
        var start = -1
        for name in names where !name.isEmpty {
            guard let pos = index(of: name, in: buf[...]) else { continue }
            if start != -1 && (pos > start || (pos == start && name.count <= found!.count)) { continue }
            found = name
            start = pos
        }
        return found.map { ($0, start + $0.count) }
    }

    /// The arguments of `tool`: the first balanced JSON object (strings and escapes respected) that parses — its
    /// "arguments"/"parameters" when it has a "name", else an object keyed by the tool's name, searched depth
    /// first, else the object itself. Returns the position of the object's closing brace (as Ollama does).
    static func findArguments(tool: [UInt8], _ buf: [UInt8]) -> (JSON, Int)? {
        var start = -1, braces = 0
        var inString = false, escaped = false
        let toolName = String(decoding: tool, as: UTF8.self)
        for (i, c) in buf.enumerated() {
            if escaped { escaped = false; continue }
            if c == UInt8(ascii: "\\") { escaped = true; continue }
            if c == UInt8(ascii: "\"") { inString.toggle(); continue }
            if inString { continue }
            if c == UInt8(ascii: "{") {
                if braces == 0 { start = i }
                braces += 1
            } else if c == UInt8(ascii: "}") {
                braces -= 1
                if braces == 0 && start != -1 {
                    guard let data = try? JSON.parse(String(decoding: buf[start...i], as: UTF8.self)),
                          case .object = data else {
                        start = -1
                        continue
                    }
                    if let (args, found) = findObject(data, toolName), found {
                        return args.map { ($0, i) }
                    }
                    return (data, i)
                }
                if braces < 0 { braces = 0 }
            }
        }
        return nil
    }

    /// (arguments, true) when `obj` or an object inside it names the call; arguments nil when that object has a
    /// name but no usable arguments.
    private static func findObject(_ obj: JSON, _ toolName: String) -> (JSON?, Bool)? {
        guard case let .object(fields) = obj else { return nil }
        func map(_ key: String) -> JSON? {
            switch obj[key] {
            case let .object(o)?: return .object(o)
            case let .string(s)?:
                if let v = try? JSON.parse(s), case .object = v { return v }
                return nil
            default: return nil
            }
        }
        if obj["name"] != nil {
            if let a = map("arguments") { return (a, true) }
            if let a = map("parameters") { return (a, true) }
            return (nil, true)
        }
        if let a = map(toolName) { return (a, true) }
        for (_, v) in fields {
            switch v {
            case .object:
                if let r = findObject(v, toolName), r.1 { return r }
            case let .array(items):
                for item in items {
                    if case .object = item, let r = findObject(item, toolName), r.1 { return r }
                }
            default: break
            }
        }
        return (nil, false)
    }

    /// For the tags "{" and "[": the buffer holds a balanced object/list (no call in it, or the calls are over).
    func isClosed() -> Bool {
        guard bareJSON else { return false }
        let open = tag[0], close = open == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
        var depth = 0
        for c in buffer {
            if c == open { depth += 1 } else if c == close {
                depth -= 1
                if depth == 0 { return true }
            }
        }
        return false
    }

    static func index(of needle: [UInt8], in hay: ArraySlice<UInt8>) -> Int? {
        guard !needle.isEmpty, hay.count >= needle.count else { return needle.isEmpty ? hay.startIndex : nil }
        let first = needle[0]
        var i = hay.startIndex
        let last = hay.endIndex - needle.count
        while i <= last {
            if hay[i] == first && hay[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }
}
