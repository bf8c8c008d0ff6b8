// Metrics: the run's `metrics.jsonl` — one JSON object per line, appended as training goes:
//
//   {"step": 10, "loss": 3.21, "lr": 0.0003, "grad_norm": 1.7, "tokens": 40960, "tokens_per_s": 31000.5, "elapsed_s": 1.3}
//   {"step": 250, "val_loss": 2.01, "val_ppl": 7.46}
//
// Floats are written in their shortest round-trip form (a Float loss prints the same text whenever its bits are
// the same, so two runs compare line by line). On --resume the file is cut back to the lines of steps up to
// the checkpoint's, so the resumed run's lines follow exactly where the checkpoint left off.

import Foundation
import Formats

public final class MetricsLog {
    public let path: String
    let handle: FileHandle

    /// Opens `path` for appending. `keepThrough`: nil starts an empty file; a step keeps only the lines of
    /// steps ≤ it (a resumed run).
    public init(path: String, keepThrough step: Int?) throws {
        self.path = path
        var kept: [UInt8] = []
        if let step, let data = FileManager.default.contents(atPath: path) {
            let text = String(decoding: data, as: UTF8.self)
            for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
                guard let o = try? JSON.parse(Data(line.utf8), file: path) as? [String: Any],
                      let s = JSON.int(o["step"]), s <= step else { continue }
                kept += Array(line.utf8) + [0x0A]
            }
        }
        do { try AtomicOutput.write(kept, to: path) } catch {
            throw FinetuneError.data(file: path, message: "cannot write: \(error)")
        }
        guard let h = FileHandle(forWritingAtPath: path) else { throw FinetuneError.data(file: path, message: "cannot open for writing") }
        h.seekToEndOfFile()
        handle = h
    }

    deinit { try? handle.close() }

    func append(_ fields: [(String, JSON)]) {
        handle.write(Data((JSON.object(fields).serialized() + "\n").utf8))
    }

    public func train(step: Int, loss: Float, lr: Float, gradNorm: Float, tokens: Int, tokensPerSecond: Double, elapsed: Double) {
        append([("step", .int(step)), ("loss", .float(loss)), ("lr", .float(lr)), ("grad_norm", .float(gradNorm)),
                ("tokens", .int(tokens)), ("tokens_per_s", .double(rounded(tokensPerSecond, 1))), ("elapsed_s", .double(rounded(elapsed, 3)))])
    }

    public func validation(step: Int, loss: Float) {
        append([("step", .int(step)), ("val_loss", .float(loss)), ("val_ppl", .float(Float(exp(Double(loss)))))])
    }

    public func flush() { try? handle.synchronize() }

    func rounded(_ x: Double, _ digits: Int) -> Double {
        let f = pow(10.0, Double(digits))
        return (x * f).rounded() / f
    }

    /// The training and validation points of a metrics file (for the plot and the report).
    public static func read(_ path: String) -> (train: [(step: Int, loss: Double)], validation: [(step: Int, loss: Double)]) {
        var train: [(Int, Double)] = [], val: [(Int, Double)] = []
        guard let data = FileManager.default.contents(atPath: path) else { return ([], []) }
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            guard let o = try? JSON.parse(Data(line.utf8), file: path) as? [String: Any], let s = JSON.int(o["step"]) else { continue }
            if let l = JSON.double(o["loss"]) { train.append((s, l)) }
            if let l = JSON.double(o["val_loss"]) { val.append((s, l)) }
        }
        return (train.map { (step: $0.0, loss: $0.1) }, val.map { (step: $0.0, loss: $0.1) })
    }
}
