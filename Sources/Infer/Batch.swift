// Batch: the row bookkeeping of a multi-sequence forward pass. The sequences' tokens are laid end to end —
// sequence s owns rows first[s] ..< first[s] + tokens.count — so every matrix product runs once over all rows,
// while positions, the KV cache and attention stay per sequence.
import Foundation

struct BatchLayout {
    let sequences: [SequenceInput]
    /// First row of each sequence, and its first position (its cache's count before the pass).
    let first: [Int], starts: [Int]
    let rows: Int
    /// The rows whose outputs are returned, sequence by sequence, in each sequence's `outputs` order.
    let outputRows: [Int]

    /// Checks every sequence (room in its cache within `limit`, token ids in the vocabulary, output rows in
    /// range, no cache shared by two sequences) before anything is computed.
    init(_ sequences: [SequenceInput], vocabularySize: Int, limit: (KVCache) -> Int) throws {
        var first: [Int] = [], starts: [Int] = [], outputRows: [Int] = []
        var seen = Set<ObjectIdentifier>()
        var row = 0
        for s in sequences {
            guard seen.insert(ObjectIdentifier(s.cache)).inserted else {
                throw InferError.invalidRequest("two sequences of one batch share a KV cache")
            }
            let start = s.cache.count, T = s.tokens.count, cap = limit(s.cache)
            guard start + T <= cap else {
                throw InferError.invalidRequest("context full: \(start) + \(T) tokens exceed the context length \(cap)")
            }
            for tok in s.tokens where tok < 0 || tok >= vocabularySize {
                throw InferError.invalidRequest("token id \(tok) is outside the vocabulary (0..<\(vocabularySize))")
            }
            for r in s.outputs where r < 0 || r >= T {
                throw InferError.invalidRequest("output row \(r) is outside the sequence's \(T) tokens")
            }
            first.append(row)
            starts.append(start)
            outputRows += s.outputs.map { row + $0 }
            row += T
        }
        self.sequences = sequences
        self.first = first
        self.starts = starts
        self.rows = row
        self.outputRows = outputRows
    }

    /// (sequence, position) of every row.
    func forEachRow(_ body: (_ row: Int, _ pos: Int) -> Void) {
        for (s, seq) in sequences.enumerated() {
            for t in 0..<seq.tokens.count { body(first[s] + t, starts[s] + t) }
        }
    }

    /// Attention's view: one segment per sequence with tokens.
    var segments: [Attention.Segment] {
        sequences.indices.compactMap { s in
            sequences[s].tokens.isEmpty ? nil
                : Attention.Segment(cache: sequences[s].cache, row: first[s], count: sequences[s].tokens.count, start: starts[s])
        }
    }

    /// Appends each sequence's keys/values (rows of k and v, `width` floats each) to its cache.
    func store(layer: Int, k: UnsafePointer<Float>, v: UnsafePointer<Float>, width: Int) {
        for (s, seq) in sequences.enumerated() where !seq.tokens.isEmpty {
            seq.cache.store(layer: layer, pos: starts[s], n: seq.tokens.count, k: k + first[s] * width, v: v + first[s] * width)
        }
    }

    /// Marks the new positions as filled, after the last layer.
    func commit() {
        for (s, seq) in sequences.enumerated() { seq.cache.count = starts[s] + seq.tokens.count }
    }

    /// The output rows (outputRows.count rows of `width` floats, written by `fill` in outputRows order), one array
    /// per sequence; a lone sequence's rows are written straight into its array.
    func outputs(width: Int, _ fill: (UnsafeMutablePointer<Float>) -> Void) -> [[Float]] {
        let count = outputRows.count * width
        if sequences.count == 1 {
            var rows = [Float](repeating: 0, count: count)
            rows.withUnsafeMutableBufferPointer { fill($0.baseAddress!) }
            return [rows]
        }
        let buffer = Buffer(count)
        fill(buffer.p)
        return split(buffer.p, width: width)
    }

    /// Splits `outputRows.count` rows of `width` floats (in outputRows order) into one array per sequence.
    func split(_ rows: UnsafePointer<Float>, width: Int) -> [[Float]] {
        var i = 0
        return sequences.map { seq in
            let n = seq.outputs.count
            defer { i += n }
            return Array(UnsafeBufferPointer(start: rows + i * width, count: n * width))
        }
    }
}
