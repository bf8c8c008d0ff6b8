// CompareReport: `llmkit compare`'s output — several models' GenerationEvalResults on the same examples as a
// Markdown report (a table of the figures, the chart, then sample outputs side by side) and an SVG bar chart.
// Chart: two panels of grouped bars, one colour per model — left, the 0…1 scores (ROUGE-L F1, exact match, share of
// code that parses; a model with no code checked has no bar there), right, the held-out loss in nats/token. Plain
// hand-written SVG 1.1 (as LossPlot), no dependencies.
// Samples: an HTML table per example (GitHub renders HTML in Markdown), the reference and each model's prediction
// in <pre> cells, HTML-escaped, each cut to `sampleChars` characters.

import Foundation

public enum CompareReport {
    static let colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]

    static func esc(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func f(_ v: Double, _ digits: Int = 4) -> String { v.isFinite ? String(format: "%.\(digits)f", v) : "–" }

    /// The Markdown report. `models` are (name, what it is: path and adapter), results in the same order.
    public static func markdown(data: String, models: [(name: String, description: String)], results: [GenerationEvalResult],
                                maxNewTokens: Int, chart: String, samples: Int = 5, sampleChars: Int = 1500) -> String {
        precondition(models.count == results.count)
        var md = "# Model comparison on \(data)\n\n"
        let n = results.map { $0.samples.count }.max() ?? 0
        md += "\(n) held-out examples; greedy decoding, at most \(maxNewTokens) new tokens; loss and perplexity over the "
        md += "response tokens (incl. the end-of-turn token) — per token of each model's own tokenizer, so compare models with "
        md += "different tokenizers by bits/byte (the same nats per UTF-8 byte of response text); ROUGE-L F1 as Google's rouge-score; exact match after "
        md += "trimming; code parsed by gofmt -e / swiftc -parse / python3 -m py_compile (the first ``` block when there is one). "
        md += "tokens/s is the decode rate on this machine (noisy when it is shared).\n\n"
        md += "| model | what | examples | held-out loss | perplexity | bits/byte | ROUGE-L F1 | exact match | code parses | tokens/s |\n"
        md += "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
        for (m, r) in zip(models, results) {
            let by = r.parseCounts.byLanguage.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value.parsed)/\($0.value.checked)" }
            let parse = r.parseShare.map { "\(f($0, 3)) (\(by.joined(separator: ", ")))" } ?? "–"
            md += "| \(m.name) | `\(m.description)` | \(r.samples.count)\(r.cutPrompts > 0 ? " (\(r.cutPrompts) prompts cut to the context)" : "") | "
            md += "\(f(r.loss)) | \(f(r.perplexity, 2)) | \(f(r.bitsPerByte, 3)) | \(f(r.rougeL)) | \(f(r.exactMatch, 3)) | \(parse) | \(f(r.tokensPerSecond, 1)) |\n"
        }
        let skipped = Set(results.flatMap { $0.parseCounts.skipped.map { "\($0.key): \($0.value)" } }).sorted()
        if !skipped.isEmpty { md += "\nNot parsed (no checker here): \(skipped.joined(separator: "; ")).\n" }
        md += "\n![scores and held-out loss](\(chart))\n\n## Sample outputs\n"
        // Examples in the order of the first model's samples; other models' predictions matched by source.
        let first = results.first?.samples ?? []
        for s in first.prefix(samples) {
            md += "\n### \(s.source)\n\n<table>\n<tr><th>reference</th>"
            for m in models { md += "<th>\(esc(m.name))</th>" }
            md += "</tr>\n<tr><td><pre>\(esc(String(s.reference.prefix(sampleChars))))</pre></td>"
            for r in results {
                let p = r.samples.first { $0.source == s.source }
                let cell = p.map { "<pre>\(esc(String($0.prediction.prefix(sampleChars))))</pre>ROUGE-L \(f($0.rougeL, 3))" } ?? "(skipped)"
                md += "<td>\(cell)</td>"
            }
            md += "</tr>\n</table>\n"
        }
        return md
    }

    /// The bar chart.
    public static func svg(names: [String], results: [GenerationEvalResult], title: String) -> String {
        let width = 880.0, height = 400.0, top = 50.0, bottom = 70.0, ph = height - top - bottom
        let leftPanel = (x: 60.0, w: 520.0), rightPanel = (x: 650.0, w: 180.0)
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        s += "<text x=\"\(width / 2)\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">\(esc(title))</text>\n"
        func axis(_ x: Double, _ w: Double, _ hi: Double, _ label: String) {
            for t in LossPlot.ticks(0, hi, count: 5) {
                let y = top + ph - t / hi * ph
                s += "<line x1=\"\(x)\" y1=\"\(y)\" x2=\"\(x + w)\" y2=\"\(y)\" stroke=\"#ddd\"/>"
                s += "<text x=\"\(x - 6)\" y=\"\(y + 4)\" text-anchor=\"end\">\(LossPlot.label(t))</text>\n"
            }
            s += "<line x1=\"\(x)\" y1=\"\(top)\" x2=\"\(x)\" y2=\"\(top + ph)\" stroke=\"black\"/>"
            s += "<line x1=\"\(x)\" y1=\"\(top + ph)\" x2=\"\(x + w)\" y2=\"\(top + ph)\" stroke=\"black\"/>\n"
            s += "<text x=\"\(x + w / 2)\" y=\"\(top - 10)\" text-anchor=\"middle\">\(esc(label))</text>\n"
        }
        func bars(_ x: Double, _ w: Double, _ hi: Double, groups: [(String, [Double?])]) {
            let gw = w / Double(groups.count)
            let bw = gw * 0.8 / Double(max(names.count, 1))
            for (g, (label, values)) in groups.enumerated() {
                let gx = x + Double(g) * gw + gw * 0.1
                for (k, v) in values.enumerated() {
                    guard let v, v.isFinite else { continue }
                    let h = min(v, hi) / hi * ph
                    s += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%@\"><title>%@: %.4f</title></rect>",
                                gx + Double(k) * bw, top + ph - h, bw * 0.92, h, colors[k % colors.count], esc(names[k]), v)
                    s += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"10\">%@</text>\n",
                                gx + (Double(k) + 0.5) * bw, top + ph - h - 3, LossPlot.label((v * 1000).rounded() / 1000))
                }
                s += "<text x=\"\(gx + gw * 0.4)\" y=\"\(top + ph + 16)\" text-anchor=\"middle\">\(esc(label))</text>\n"
            }
        }
        axis(leftPanel.x, leftPanel.w, 1, "scores, 0–1 (higher: better)")
        bars(leftPanel.x, leftPanel.w, 1, groups: [("ROUGE-L F1", results.map { $0.rougeL }), ("exact match", results.map { $0.exactMatch }),
                                                  ("code parses", results.map { $0.parseShare })])
        let maxLoss = max(results.map(\.loss).filter(\.isFinite).max() ?? 1, 1e-6)
        let lossTop = LossPlot.ticks(0, maxLoss * 1.1, count: 5).last.map { max($0, maxLoss * 1.1) } ?? maxLoss * 1.1
        axis(rightPanel.x, rightPanel.w, lossTop, "held-out loss, nats/token (lower: better)")
        bars(rightPanel.x, rightPanel.w, lossTop, groups: [("loss", results.map { $0.loss })])
        // Legend.
        var lx = leftPanel.x
        for (k, n) in names.enumerated() {
            s += "<rect x=\"\(lx)\" y=\"\(height - 24)\" width=\"12\" height=\"12\" fill=\"\(colors[k % colors.count])\"/>"
            s += "<text x=\"\(lx + 16)\" y=\"\(height - 14)\">\(esc(n))</text>\n"
            lx += 30 + Double(n.count) * 7
        }
        return s + "</svg>\n"
    }
}
