// LossPlot: the run's `loss.svg` — training loss (a line through every logged step) and validation loss (a
// line with dots at each evaluation) against the step, with ticked and labelled axes and a legend. Plain
// hand-written SVG 1.1, no dependencies; opens in any browser.

import Foundation

public enum LossPlot {
    /// "Nice" tick values covering lo…hi (steps of 1, 2 or 5 × 10^k, about `count` of them).
    static func ticks(_ lo: Double, _ hi: Double, count: Int = 6) -> [Double] {
        guard hi > lo else { return [lo] }
        let raw = (hi - lo) / Double(count)
        let mag = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? 10 * mag
        var out: [Double] = []
        var v = ceil(lo / step) * step
        while v <= hi + step * 1e-9 { out.append(v); v += step }
        return out
    }

    static func label(_ v: Double) -> String {
        if v == v.rounded() && abs(v) < 1e7 { return String(Int(v)) }
        var s = String(format: "%.3f", v)
        while s.hasSuffix("0") { s.removeLast() }
        return s
    }

    /// The SVG text for the two series (either may be empty).
    public static func svg(train: [(step: Int, loss: Double)], validation: [(step: Int, loss: Double)], title: String) -> String {
        let width = 720.0, height = 440.0
        let left = 70.0, right = 20.0, top = 40.0, bottom = 55.0
        let pw = width - left - right, ph = height - top - bottom
        let all = (train + validation).filter { $0.loss.isFinite }
        let maxStep = Double(max(1, all.map(\.step).max() ?? 1))
        var lo = all.map(\.loss).min() ?? 0, hi = all.map(\.loss).max() ?? 1
        if hi - lo < 1e-6 { lo -= 0.5; hi += 0.5 }
        let pad = (hi - lo) * 0.05
        lo = max(0, lo - pad); hi += pad
        func x(_ s: Double) -> Double { left + s / maxStep * pw }
        func y(_ l: Double) -> Double { top + (hi - l) / (hi - lo) * ph }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        func esc(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        }

        var s = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(f(width / 2))" y="22" text-anchor="middle" font-size="15">\(esc(title))</text>

        """
        // Grid, ticks and tick labels.
        for t in ticks(0, maxStep) {
            s += "<line x1=\"\(f(x(t)))\" y1=\"\(f(top))\" x2=\"\(f(x(t)))\" y2=\"\(f(top + ph))\" stroke=\"#e5e5e5\"/>"
            s += "<line x1=\"\(f(x(t)))\" y1=\"\(f(top + ph))\" x2=\"\(f(x(t)))\" y2=\"\(f(top + ph + 5))\" stroke=\"black\"/>"
            s += "<text x=\"\(f(x(t)))\" y=\"\(f(top + ph + 19))\" text-anchor=\"middle\">\(label(t))</text>\n"
        }
        for t in ticks(lo, hi) {
            s += "<line x1=\"\(f(left))\" y1=\"\(f(y(t)))\" x2=\"\(f(left + pw))\" y2=\"\(f(y(t)))\" stroke=\"#e5e5e5\"/>"
            s += "<line x1=\"\(f(left - 5))\" y1=\"\(f(y(t)))\" x2=\"\(f(left))\" y2=\"\(f(y(t)))\" stroke=\"black\"/>"
            s += "<text x=\"\(f(left - 8))\" y=\"\(f(y(t) + 4))\" text-anchor=\"end\">\(label(t))</text>\n"
        }
        // Axes and their labels.
        s += "<line x1=\"\(f(left))\" y1=\"\(f(top + ph))\" x2=\"\(f(left + pw))\" y2=\"\(f(top + ph))\" stroke=\"black\"/>\n"
        s += "<line x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left))\" y2=\"\(f(top + ph))\" stroke=\"black\"/>\n"
        s += "<text x=\"\(f(left + pw / 2))\" y=\"\(f(height - 12))\" text-anchor=\"middle\">step</text>\n"
        s += "<text x=\"18\" y=\"\(f(top + ph / 2))\" text-anchor=\"middle\" transform=\"rotate(-90 18 \(f(top + ph / 2)))\">loss (nats/token)</text>\n"
        // Series.
        func polyline(_ pts: [(step: Int, loss: Double)], color: String, dots: Bool) -> String {
            let p = pts.filter { $0.loss.isFinite }
            guard !p.isEmpty else { return "" }
            var out = "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\" points=\""
            out += p.map { "\(f(x(Double($0.step)))),\(f(y($0.loss)))" }.joined(separator: " ") + "\"/>\n"
            if dots {
                for q in p { out += "<circle cx=\"\(f(x(Double(q.step))))\" cy=\"\(f(y(q.loss)))\" r=\"3\" fill=\"\(color)\"/>\n" }
            }
            return out
        }
        s += polyline(train, color: "#1f77b4", dots: false)
        s += polyline(validation, color: "#d62728", dots: true)
        // Legend (top right).
        let lx = left + pw - 150, ly = top + 10
        s += "<rect x=\"\(f(lx))\" y=\"\(f(ly))\" width=\"140\" height=\"44\" fill=\"white\" stroke=\"#999\"/>\n"
        s += "<line x1=\"\(f(lx + 10))\" y1=\"\(f(ly + 14))\" x2=\"\(f(lx + 35))\" y2=\"\(f(ly + 14))\" stroke=\"#1f77b4\" stroke-width=\"2\"/>"
        s += "<text x=\"\(f(lx + 42))\" y=\"\(f(ly + 18))\">train loss</text>\n"
        s += "<line x1=\"\(f(lx + 10))\" y1=\"\(f(ly + 32))\" x2=\"\(f(lx + 35))\" y2=\"\(f(ly + 32))\" stroke=\"#d62728\" stroke-width=\"2\"/>"
        s += "<circle cx=\"\(f(lx + 22.5))\" cy=\"\(f(ly + 32))\" r=\"3\" fill=\"#d62728\"/>"
        s += "<text x=\"\(f(lx + 42))\" y=\"\(f(ly + 36))\">validation loss</text>\n"
        s += "</svg>\n"
        return s
    }
}
