// llmkit dev embed: the final hidden states (after the output norm) of every position of given token ids, from one
// forward pass of them alone — what embedding pooling starts from. Printed as JSON {"dim", "rows"}, so tests can
// pool them independently (numpy) and compare with the server's /api/embed.
import ArgumentParser
import Foundation
import Formats
import Infer

struct DevEmbed: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed", abstract: "Final hidden states of every position of token ids (JSON: dim, rows).")

    @Argument(help: "GGUF model.") var model: String
    @Option(help: "Token ids, comma-separated.") var ids: String
    @Option(name: .shortAndLong, help: "Threads.") var threads = ProcessInfo.processInfo.activeProcessorCount

    func run() throws {
        do {
            let tokens = try ids.split(separator: ",").map { s -> Int in
                guard let v = Int(s.trimmingCharacters(in: .whitespaces)) else { throw ValidationError("bad id '\(s)'") }
                return v
            }
            guard !tokens.isEmpty else { throw ValidationError("--ids needs at least one id") }
            let net = try Model.network(try GGUFFile(path: model))
            let cache = net.makeCache(contextLength: tokens.count)
            let hidden = try net.forward([SequenceInput(tokens: tokens, cache: cache, outputs: Array(tokens.indices))],
                                         emit: .hidden, threads: threads)[0]
            let d = net.embeddingLength
            let rows = (0..<tokens.count).map { r in JSON.array(hidden[(r * d)..<((r + 1) * d)].map(JSON.float)) }
            print(JSON.object([("dim", .int(d)), ("rows", .array(rows))]).serialized())
        } catch let e as ValidationError {
            throw e
        } catch {
            fail(error)
        }
    }
}
