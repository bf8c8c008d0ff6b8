// llmkit dev metrics: generation metrics of (target, prediction) pairs, for the oracle test against rouge-score.
// Input: JSONL lines {"target": …, "prediction": …, "lang"?: …}. Output: one JSON line per pair with ROUGE-L
// precision/recall/F1 (shortest round-trip doubles), exact match and, when "lang" is given, the parse outcome of the
// prediction ("parsed", "failed" or "skipped: why").
import ArgumentParser
import Finetune
import Formats
import Foundation

struct DevMetrics: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics", abstract: "ROUGE-L, exact match and code parsing of target/prediction pairs (JSONL).")

    @Option(help: "JSONL of {\"target\", \"prediction\", \"lang\"?} objects.") var pairs: String

    func run() throws {
        guard let data = FileManager.default.contents(atPath: pairs), let text = String(validating: data, as: UTF8.self) else {
            fail(FinetuneError.data(file: pairs, message: "cannot read the file as UTF-8"))
        }
        let parser = CodeParser()
        var out = ""
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            guard let obj = try? JSON.parse(Data(line.utf8), file: pairs) as? [String: Any],
                  let target = obj["target"] as? String, let prediction = obj["prediction"] as? String else {
                fail(FinetuneError.data(file: pairs, message: "line \(n + 1): expected {\"target\": string, \"prediction\": string}"))
            }
            let r = GenerationMetrics.rougeL(target: target, prediction: prediction)
            var fields: [(String, JSON)] = [("precision", .double(r.precision)), ("recall", .double(r.recall)),
                                            ("fmeasure", .double(r.fmeasure)),
                                            ("exact", .bool(GenerationMetrics.exactMatch(target: target, prediction: prediction)))]
            if let lang = obj["lang"] as? String {
                switch parser.check(prediction, lang: lang) {
                case .parsed: fields.append(("parse", .string("parsed")))
                case .failed: fields.append(("parse", .string("failed")))
                case let .skipped(why): fields.append(("parse", .string("skipped: \(why)")))
                }
            }
            out += JSON.object(fields).serialized() + "\n"
        }
        print(out, terminator: "")
    }
}
