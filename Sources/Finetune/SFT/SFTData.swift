// SFTData: the fine-tuning data files `llmkit finetune` reads, as a list of SFTRecord (one training example each).
//
// Formats (auto-detected per file from the first record's keys, or from the extension for plain text):
//   alpaca      JSON array or JSONL of {"instruction", "input" (optional), "output"}
//   chat        JSONL (or a JSON array) of {"messages": [{"role", "content"}, …]}; the last message must be the
//               assistant's: it is the response, everything before it (system, user, earlier assistant turns) is context
//   completion  JSONL of {"prompt", "completion"}
//   text        a `.txt` file (the whole file is one record), or JSONL of {"text"}: every token is trained
// A JSON file whose first non-blank character is `[` is read as one array of records; anything else as JSONL (one
// object per line, blank lines skipped). Every record of a file must have the format of the first; a record that is
// not valid JSON, lacks a field or has a field of the wrong type is an error naming the file and the line (the record
// number for a JSON array). Unknown extra keys are ignored (datasets often carry ids or metadata).

import Formats
import Foundation

/// One fine-tuning example as the data file wrote it (rendering into tokens is SFTPrompt's job).
public struct SFTRecord: Equatable, Sendable {
    public enum Format: String, Codable, Sendable, CaseIterable {
        case alpaca, chat, completion, text
    }

    public struct Message: Equatable, Sendable {
        public var role: String
        public var content: String
        public init(role: String, content: String) { self.role = role; self.content = content }
    }

    public enum Content: Equatable, Sendable {
        case alpaca(instruction: String, input: String, output: String)
        /// The whole conversation; the last message is the assistant's response.
        case chat([Message])
        case completion(prompt: String, completion: String)
        case text(String)
    }

    public var content: Content
    /// Where it came from ("data.jsonl:12"), for messages.
    public var source: String

    public init(_ content: Content, source: String = "") {
        self.content = content
        self.source = source
    }

    public var format: Format {
        switch content {
        case .alpaca: .alpaca
        case .chat: .chat
        case .completion: .completion
        case .text: .text
        }
    }

    /// The text the model is trained to produce (alpaca output, completion, the last assistant message, the text).
    public var response: String {
        switch content {
        case let .alpaca(_, _, output): output
        case let .chat(messages): messages.last?.content ?? ""
        case let .completion(_, completion): completion
        case let .text(text): text
        }
    }

    /// The conversation a chat template renders: alpaca/completion become one user turn (instruction, then
    /// "\n\n" + input when the input is non-empty) and one assistant turn; chat is as written; text has none.
    public var messages: [Message] {
        switch content {
        case let .alpaca(instruction, input, output):
            [Message(role: "user", content: input.isEmpty ? instruction : instruction + "\n\n" + input),
             Message(role: "assistant", content: output)]
        case let .chat(messages): messages
        case let .completion(prompt, completion):
            [Message(role: "user", content: prompt), Message(role: "assistant", content: completion)]
        case .text: []
        }
    }
}

public enum SFTData {
    /// Reads every record of a data file (format auto-detected, see the file header).
    public static func load(path: String) throws -> [SFTRecord] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw FinetuneError.data(file: path, message: "no such file") }
        guard !isDir.boolValue else { throw FinetuneError.data(file: path, message: "is a folder, not a data file") }
        guard let data = FileManager.default.contents(atPath: path) else { throw FinetuneError.data(file: path, message: "cannot read") }
        return try parse(data, file: path)
    }

    /// Parses a data file's bytes; `file` names it in errors and decides `.txt` (plain text).
    public static func parse(_ data: Data, file: String) throws -> [SFTRecord] {
        var bytes = [UInt8](data)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw FinetuneError.data(file: file, message: "not UTF-8 text") }
        guard text.contains(where: { !$0.isWhitespace }) else { throw FinetuneError.data(file: file, message: "the file is empty (no records)") }

        if (file as NSString).pathExtension.lowercased() == "txt" {
            return [SFTRecord(.text(text), source: file)]
        }

        // (line or record label, parsed object) pairs.
        var objects: [(label: String, value: Any)] = []
        if text.first(where: { !$0.isWhitespace }) == "[" {
            let all: Any
            do { all = try JSON.parse(Data(text.utf8), file: file) } catch {
                throw FinetuneError.data(file: file, message: "not a valid JSON array: \(error)")
            }
            guard let array = all as? [Any] else { throw FinetuneError.data(file: file, message: "not a JSON array of records") }
            guard !array.isEmpty else { throw FinetuneError.data(file: file, message: "the array holds no records") }
            objects = array.enumerated().map { ("record \($0.offset + 1)", $0.element) }
        } else {
            var lineNumber = 0
            // "\r\n" is one Character in Swift: split on it too (CRLF files).
            for line in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
                lineNumber += 1
                let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
                if trimmed.isEmpty { continue }
                do { objects.append(("line \(lineNumber)", try JSON.parse(Data(trimmed.utf8), file: file))) } catch {
                    throw FinetuneError.data(file: file, message: "line \(lineNumber): not valid JSON (\(String(trimmed.prefix(40)))…)")
                }
            }
        }

        guard let first = objects.first else { throw FinetuneError.data(file: file, message: "the file is empty (no records)") }
        guard let firstObject = first.value as? [String: Any] else {
            throw FinetuneError.data(file: file, message: "\(first.label): a record must be a JSON object")
        }
        let format = try detect(firstObject, file: file, label: first.label)
        var records: [SFTRecord] = []
        records.reserveCapacity(objects.count)
        for (label, value) in objects {
            let where_ = "\(file):\(label.split(separator: " ").last!)"
            guard let o = value as? [String: Any] else { throw FinetuneError.data(file: file, message: "\(label): a record must be a JSON object") }
            records.append(SFTRecord(try record(o, format: format, file: file, label: label), source: where_))
        }
        return records
    }

    /// The format a record's keys say it has.
    static func detect(_ o: [String: Any], file: String, label: String) throws -> SFTRecord.Format {
        if o["messages"] != nil { return .chat }
        if o["instruction"] != nil { return .alpaca }
        if o["prompt"] != nil || o["completion"] != nil { return .completion }
        if o["text"] != nil { return .text }
        let keys = o.keys.sorted().joined(separator: ", ")
        throw FinetuneError.data(file: file, message: "\(label): unknown record format (keys: \(keys.isEmpty ? "none" : keys)); expected instruction/input/output (alpaca), messages (chat), prompt/completion, or text")
    }

    static func record(_ o: [String: Any], format: SFTRecord.Format, file: String, label: String) throws -> SFTRecord.Content {
        func string(_ key: String, optional: Bool = false) throws -> String {
            switch o[key] {
            case let s as String: return s
            case nil, is NSNull:
                if optional { return "" }
                throw FinetuneError.data(file: file, message: "\(label): missing \"\(key)\" (the file's first record is \(format.rawValue))")
            default: throw FinetuneError.data(file: file, message: "\(label): \"\(key)\" must be a string")
            }
        }
        switch format {
        case .alpaca:
            return .alpaca(instruction: try string("instruction"), input: try string("input", optional: true), output: try string("output"))
        case .completion:
            return .completion(prompt: try string("prompt"), completion: try string("completion"))
        case .text:
            return .text(try string("text"))
        case .chat:
            guard let list = o["messages"] else {
                throw FinetuneError.data(file: file, message: "\(label): missing \"messages\" (the file's first record is chat)")
            }
            guard let array = list as? [Any], !array.isEmpty else {
                throw FinetuneError.data(file: file, message: "\(label): \"messages\" must be a non-empty array")
            }
            var messages: [SFTRecord.Message] = []
            for (i, m) in array.enumerated() {
                guard let mo = m as? [String: Any], let role = mo["role"] as? String, let content = mo["content"] as? String else {
                    throw FinetuneError.data(file: file, message: "\(label): message \(i + 1) must be an object with string \"role\" and \"content\"")
                }
                messages.append(.init(role: role, content: content))
            }
            guard messages.last!.role == "assistant" else {
                throw FinetuneError.data(file: file, message: "\(label): the last message must be the assistant's (the response to learn), not \"\(messages.last!.role)\"")
            }
            return .chat(messages)
        }
    }
}
