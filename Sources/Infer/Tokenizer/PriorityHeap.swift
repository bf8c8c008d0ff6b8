// PriorityHeap: the binary heap both BPE merge loops use — byte-level BPE pops the lowest merge rank, SentencePiece
// BPE the highest score — and the sampler's top-k and Finetune's BPE trainer (the most frequent pair); each element
// type says which of two comes first (ties included).

public protocol HeapOrdered {
    /// Whether `a` leaves the heap before `b`.
    static func precedes(_ a: Self, _ b: Self) -> Bool
}

public struct PriorityHeap<Element: HeapOrdered> {
    @usableFromInline var items: [Element] = []

    @inlinable public init() {}

    @inlinable public mutating func removeAll() { items.removeAll(keepingCapacity: true) }

    @inlinable public mutating func push(_ e: Element) {
        items.append(e)
        var i = items.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            if !Element.precedes(items[i], items[p]) { break }
            items.swapAt(i, p)
            i = p
        }
    }

    /// The element that precedes all others, removed.
    @inlinable public mutating func pop() -> Element? {
        guard let last = items.popLast() else { return nil }
        guard !items.isEmpty else { return last }
        let top = items[0]
        items[0] = last
        var i = 0
        let n = items.count
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < n && Element.precedes(items[l], items[m]) { m = l }
            if r < n && Element.precedes(items[r], items[m]) { m = r }
            if m == i { break }
            items.swapAt(i, m)
            i = m
        }
        return top
    }
}
