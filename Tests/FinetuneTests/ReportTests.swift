import XCTest
@testable import Finetune

final class ReportTests: XCTestCase {
    func testOverfittingIsTheFirstValidationRiseWhileTrainingFalls() {
        let train: [(step: Int, loss: Double)] = (1...100).map { i in (step: i * 10, loss: 3.0 - Double(i) * 0.01) }
        let val: [(step: Int, loss: Double)] = [(250, 2.5), (500, 2.2), (750, 2.1), (1000, 2.15), (1250, 2.2)]
        let s = RunReport.overfitting(train: train, validation: val, steps: 1250)
        XCTAssert(s.hasPrefix("Validation loss first rose at step 1000"), s)
        let none = RunReport.overfitting(train: train, validation: Array(val.prefix(3)), steps: 750)
        XCTAssertEqual(none, "No sign of overfitting within 750 steps (validation loss did not rise while training loss fell).")
        // A rise while training loss also rose is noise, not overfitting.
        let flat: [(step: Int, loss: Double)] = (1...100).map { i in (step: i * 10, loss: i > 75 ? 2.5 : 2.0) }
        XCTAssert(RunReport.overfitting(train: flat, validation: val, steps: 1250).hasPrefix("No sign"))
    }

    func testTicksAreRoundAndCoverTheRange() {
        XCTAssertEqual(LossPlot.ticks(0, 2000), [0, 500, 1000, 1500, 2000])
        XCTAssertEqual(LossPlot.ticks(0.2, 3.1), [0.5, 1.0, 1.5, 2.0, 2.5, 3.0], accuracy: 1e-9)
        XCTAssertEqual(LossPlot.label(2.2000000000000002), "2.2")
    }

    func testSVGHasBothSeriesAxesAndLegend() {
        let svg = LossPlot.svg(train: [(10, 3.0), (20, 2.5), (30, 2.2)], validation: [(20, 2.6), (30, 2.4)], title: "t<1>")
        XCTAssert(svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\""))
        XCTAssertEqual(svg.components(separatedBy: "<polyline").count - 1, 2)
        XCTAssertEqual(svg.components(separatedBy: "<circle").count - 1, 3)  // two validation dots + the legend's
        for s in ["train loss", "validation loss", ">step<", "loss (nats/token)", "t&lt;1&gt;"] { XCTAssert(svg.contains(s), s) }
        XCTAssert(svg.hasSuffix("</svg>\n"))
    }

    func testProgressLine() {
        XCTAssertEqual(ProgressBar.line(step: 120, total: 2000, loss: 2.13456, valLoss: 2.2, tokensPerSecond: 31234, eta: 62),
                       "step 120/2000 loss 2.1346 val 2.2000 31.2k tok/s ETA 1m02s")
        var lines: [String] = []
        let bar = ProgressBar(total: 25, logEvery: 10, interactive: false, write: { lines.append($0) })
        for s in 1...25 { bar.update(step: s, loss: 1, valLoss: nil, tokensPerSecond: 10, eta: 0) }
        XCTAssertEqual(lines.map { String($0.split(separator: " ")[1]) }, ["10/25", "20/25", "25/25"])
    }
}

private func XCTAssertEqual(_ a: [Double], _ b: [Double], accuracy: Double, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, "\(a) vs \(b)", file: file, line: line)
    for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: accuracy, file: file, line: line) }
}
