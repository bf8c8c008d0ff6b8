// ProgressBar: what a training run shows on stderr. On a terminal, one line redrawn in place after every
// step —  `step 120/2000 [####......] loss 2.134 val 2.201 31.2k tok/s ETA 1m02s`; otherwise (a pipe, a log
// file) a plain line every `logEvery` steps and at the last step, so logs stay readable.

import Foundation

public final class ProgressBar {
    public let total: Int
    public let interactive: Bool
    let logEvery: Int
    let write: (String) -> Void
    var lastDraw = 0.0
    var lineOpen = false

    /// `interactive` defaults to whether stderr is a terminal.
    public init(total: Int, logEvery: Int, interactive: Bool = isatty(2) != 0,
                write: @escaping (String) -> Void = { try? FileHandle.standardError.write(contentsOf: Data($0.utf8)) }) {
        self.total = total; self.logEvery = logEvery; self.interactive = interactive; self.write = write
    }

    static func duration(_ s: Double) -> String {
        guard s.isFinite, s >= 0 else { return "?" }
        let t = Int(s.rounded())
        if t >= 3600 { return "\(t / 3600)h\(String(format: "%02d", t / 60 % 60))m" }
        if t >= 60 { return "\(t / 60)m\(String(format: "%02d", t % 60))s" }
        return "\(t)s"
    }

    static func rate(_ r: Double) -> String { r >= 1000 ? String(format: "%.1fk", r / 1000) : String(format: "%.0f", r) }

    /// The status line (without the bar), e.g. for logs.
    public static func line(step: Int, total: Int, loss: Float, valLoss: Float?, tokensPerSecond: Double, eta: Double) -> String {
        var s = "step \(step)/\(total) loss \(String(format: "%.4f", loss))"
        if let valLoss { s += " val \(String(format: "%.4f", valLoss))" }
        s += " \(rate(tokensPerSecond)) tok/s ETA \(duration(eta))"
        return s
    }

    /// Shows the state after `step`.
    public func update(step: Int, loss: Float, valLoss: Float?, tokensPerSecond: Double, eta: Double) {
        let text = ProgressBar.line(step: step, total: total, loss: loss, valLoss: valLoss, tokensPerSecond: tokensPerSecond, eta: eta)
        if interactive {
            let now = Date().timeIntervalSince1970
            guard step == total || now - lastDraw >= 0.1 else { return }
            lastDraw = now
            let width = 24, filled = total > 0 ? min(width, step * width / total) : width
            let bar = "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "]"
            let parts = text.split(separator: " ", maxSplits: 2)
            write("\r\u{1B}[2K" + parts[0] + " " + parts[1] + " " + bar + " " + parts[2])
            lineOpen = true
        } else if step % logEvery == 0 || step == total {
            write(text + "\n")
        }
    }

    /// A message on its own line (evaluations, checkpoints), not overwritten by the bar.
    public func note(_ message: String) {
        write(interactive ? "\r\u{1B}[2K" + message + "\n" : message + "\n")
        lineOpen = false
    }

    /// Ends the bar's line.
    public func finish() {
        if interactive && lineOpen { write("\n") }
        lineOpen = false
    }
}
