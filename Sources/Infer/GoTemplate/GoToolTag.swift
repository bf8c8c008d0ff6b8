// The tool-call tag of a Go TEMPLATE, found as Ollama's tools.parseTag finds it: the first `if` whose pipeline names a
// `.ToolCalls` field (searched depth-first through if/range/with bodies and their else branches), then the first text
// inside it (stopping at an action, or after the first nested if/range/with), trimmed, CRLF → LF, cut before "{".
import Foundation

extension GoTemplate {
    /// The tag text ("<tool_call>", "[TOOL_CALLS]"), "" when the template's tool-call branch starts with JSON, nil
    /// when it has none.
    public var toolCallTag: String? {
        guard let branch = Self.toolCallsIf(root), let text = Self.firstText(branch.list) else { return nil }
        let tag = text.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "\r\n", with: "\n")
        return String(tag.prefix { $0 != "{" })
    }

    private static func toolCallsIf(_ nodes: [GoNode]) -> GoBranch? {
        func namesToolCalls(_ b: GoBranch) -> Bool {
            b.pipe.cmds.contains { $0.args.contains { if case let .field(_, ids) = $0 { ids.contains("ToolCalls") } else { false } } }
        }
        for node in nodes {
            switch node {
            case let .ifNode(b):
                if namesToolCalls(b) { return b }
                if let r = toolCallsIf(b.list) ?? b.elseList.flatMap(toolCallsIf) { return r }
            case let .rangeNode(b), let .withNode(b):
                if let r = toolCallsIf(b.list) ?? b.elseList.flatMap(toolCallsIf) { return r }
            default: continue
            }
        }
        return nil
    }

    private static func firstText(_ nodes: [GoNode]) -> String? {
        for node in nodes {
            switch node {
            case let .text(s): return s
            case let .ifNode(b), let .rangeNode(b), let .withNode(b):
                return firstText(b.list) ?? b.elseList.flatMap(firstText)
            case .action: return nil
            default: continue
            }
        }
        return nil
    }
}
