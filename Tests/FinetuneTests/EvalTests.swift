import Foundation
import XCTest
@testable import Finetune

final class EvalTests: XCTestCase {
    func testLogProbabilityIsLogSoftmax() {
        let logits: [Float] = [1, 2, 3, -4, 0.5]
        let z = logits.map { exp(Double($0)) }.reduce(0, +)
        for t in logits.indices {
            let got = logits.withUnsafeBufferPointer { Evaluation.logProbability($0, t) }
            XCTAssertEqual(got, log(exp(Double(logits[t])) / z), accuracy: 1e-6)
        }
        // Large logits do not overflow (max-shifted).
        let big: [Float] = [1000, 1000]
        XCTAssertEqual(big.withUnsafeBufferPointer { Evaluation.logProbability($0, 0) }, -log(2), accuracy: 1e-9)
    }

    func testDerivedFiguresAndJSON() throws {
        let r = EvalResult(context: 8, windows: 2, tokens: 16, scoredTokens: 14, totalNats: 14 * log(4), characters: 28, bytes: 30)
        XCTAssertEqual(r.loss, log(4), accuracy: 1e-12)
        XCTAssertEqual(r.perplexity, 4, accuracy: 1e-9)
        XCTAssertEqual(r.bitsPerCharacter, 14 * 2 / 28, accuracy: 1e-12)  // 2 bits per token, 2 characters per token
        XCTAssertEqual(r.bitsPerByte, 28.0 / 30, accuracy: 1e-12)
        let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.json().utf8)) as? [String: Any])
        XCTAssertEqual(obj["scored_tokens"] as? Int, 14)
        XCTAssertEqual(try XCTUnwrap(obj["perplexity"] as? Double), 4, accuracy: 1e-9)
    }
}
