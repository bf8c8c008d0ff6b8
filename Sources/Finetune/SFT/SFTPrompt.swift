// SFTPrompt: an SFTRecord → (prompt tokens, response tokens) under a base model's tokenizer and chat template.
//
// The prompt is exactly what a generation at eval/serve time starts from; the response is what the model must
// produce after it, ending with the token that ends an assistant turn, so that a trained model stops by itself.
//
// With a chat template (SmolLM2, Llama 3 …):
//   prompt   = the conversation without the response, rendered with add_generation_prompt = true and tokenized as
//              `llmkit run` and the server do (special tokens parsed, BOS added where the tokenizer asks, never twice —
//              `encodeChat`, the same rule as ChatSession.encodePrompt in Sources/llmkit/RunCommand.swift)
//   response = the response text tokenized alone (no BOS, special-token text not parsed: data cannot inject control
//              tokens) + the end-of-turn token: what the template writes right after an assistant message's content
//              (`<|im_end|>` for ChatML, `<|eot_id|>` for Llama 3), found once by rendering a probe conversation; the
//              tokenizer's EOS when that text does not start with an end-of-generation token.
//   Alpaca and completion records become one user turn and one assistant turn (SFTRecord.messages).
// Without a chat template (the tiny char model):
//   alpaca      the Stanford Alpaca prompt ("Below is an instruction that describes a task. …### Response:\n")
//   completion  the prompt text as is
//   response    the text + EOS when the tokenizer has one
//   chat        an error (a conversation needs a template)
// Text records: prompt = BOS when the tokenizer adds one, else empty; response = the text's tokens (no EOS).

import Formats
import Infer

public struct SFTPrompt {
    public let tokenizer: any Tokenizer
    public let template: ChatTemplate?
    /// The token ending an assistant turn (nil: none known, the response ends without one).
    public let endOfTurn: Int32?

    let bosText: String
    let eosText: String

    /// `chatTemplate`: the base's `tokenizer.chat_template` (nil or empty: no template).
    public init(tokenizer: any Tokenizer, chatTemplate: String?) throws {
        self.tokenizer = tokenizer
        bosText = tokenizer.bos.map { String(decoding: tokenizer.piece($0, special: true), as: UTF8.self) } ?? ""
        eosText = tokenizer.eos.map { String(decoding: tokenizer.piece($0, special: true), as: UTF8.self) } ?? ""
        if let source = chatTemplate, !source.isEmpty {
            do { template = try ChatTemplate(source) } catch { throw FinetuneError.config("the base's chat template: \(error)") }
        } else {
            template = nil
        }
        endOfTurn = try Self.findEndOfTurn(template: template, tokenizer: tokenizer, bos: bosText, eos: eosText)
    }

    /// What the template writes after an assistant message's content, if it starts with an end-of-generation token;
    /// else the tokenizer's EOS.
    static func findEndOfTurn(template: ChatTemplate?, tokenizer: any Tokenizer, bos: String, eos: String) throws -> Int32? {
        let fallback = tokenizer.eos.map(Int32.init)
        guard let template else { return fallback }
        let marker = "\u{E000}llmkit-response\u{E000}"
        let rendered: String
        do {
            rendered = try template.render(messages: [(role: "user", content: "Hi"), (role: "assistant", content: marker)],
                                           addGenerationPrompt: false, bosToken: bos, eosToken: eos)
        } catch {
            throw FinetuneError.config("the base's chat template cannot render a user and an assistant turn: \(error)")
        }
        guard let r = rendered.range(of: marker) else { return fallback }
        let after = tokenizer.encode(String(rendered[r.upperBound...]), addSpecial: false, parseSpecial: true)
        if let first = after.first, tokenizer.isEndOfGeneration(first) { return Int32(first) }
        return fallback
    }

    /// Tokens of a rendered chat as `llmkit run` / the server feed them: special tokens parsed, BOS added where the
    /// tokenizer asks unless the template already wrote one.
    public static func encodeChat(_ rendered: String, _ tok: any Tokenizer) -> [Int] {
        var ids = tok.encode(rendered, addSpecial: true, parseSpecial: true)
        if ids.count >= 2, let bos = tok.bos, tok.addsBOS, ids[0] == bos, ids[1] == bos { ids.removeFirst() }
        return ids
    }

    /// The prompt text a template-less base sees for an alpaca record (Stanford Alpaca's two prompts).
    public static func alpacaPrompt(instruction: String, input: String) -> String {
        if input.isEmpty {
            return "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
                + "### Instruction:\n\(instruction)\n\n### Response:\n"
        }
        return "Below is an instruction that describes a task, paired with an input that provides further context. "
            + "Write a response that appropriately completes the request.\n\n"
            + "### Instruction:\n\(instruction)\n\n### Input:\n\(input)\n\n### Response:\n"
    }

    /// The prompt as text (what is tokenized into `render(_:).prompt`); nil for text records.
    public func promptText(_ record: SFTRecord) throws -> String? {
        if case .text = record.content { return nil }
        if let template {
            let context = record.messages.dropLast().map { (role: $0.role, content: $0.content) }
            do {
                return try template.render(messages: Array(context), addGenerationPrompt: true, bosToken: bosText, eosToken: eosText)
            } catch {
                throw FinetuneError.data(file: record.source, message: "the chat template cannot render this record: \(error)")
            }
        }
        switch record.content {
        case let .alpaca(instruction, input, _): return Self.alpacaPrompt(instruction: instruction, input: input)
        case let .completion(prompt, _): return prompt
        case .chat:
            throw FinetuneError.data(file: record.source, message: "a chat record needs a base with a chat template (tokenizer.chat_template)")
        case .text: return nil
        }
    }

    /// The prompt tokens (where a generation starts) and the response tokens (what the model learns to produce,
    /// incl. the end-of-turn token).
    public func render(_ record: SFTRecord) throws -> (prompt: [Int32], response: [Int32]) {
        guard let text = try promptText(record) else {
            let bos = tokenizer.addsBOS ? tokenizer.bos.map { [Int32($0)] } ?? [] : []
            return (bos, tokenizer.encode(record.response, addSpecial: false, parseSpecial: false).map(Int32.init))
        }
        var prompt: [Int]
        if template != nil {
            prompt = Self.encodeChat(text, tokenizer)
        } else {
            // BOS where the tokenizer asks, but never an EOS after the prompt (encode(addSpecial:) would add both).
            prompt = tokenizer.encode(text, addSpecial: false, parseSpecial: true)
            if tokenizer.addsBOS, let bos = tokenizer.bos { prompt.insert(bos, at: 0) }
        }
        var response = tokenizer.encode(record.response, addSpecial: false, parseSpecial: false).map(Int32.init)
        if let endOfTurn { response.append(endOfTurn) }
        return (prompt.map(Int32.init), response)
    }
}
