// KVCache: the keys and values of every position seen so far, per layer, in F16 (default, as llama.cpp) or F32.
//   K: layers × ctx × kvDim       (row per position, kvDim = kvHeads · headDim)
//   V: layers × kvDim × ctx       (ctx rounded up to 256; transposed, as llama.cpp stores it without flash attention, so that the
//                                 probability-weighted sum over positions is a contiguous dot product per dim)
// Memory is reserved up front (ctx positions) and committed by the OS as positions are written.
import Foundation
import Quant

public final class KVCache: @unchecked Sendable {
    public enum Precision: String, Sendable { case f16, f32 }

    public let layers: Int
    public let contextLength: Int
    /// Positions allocated per row: contextLength rounded up to 256, so that attention can read zero-padded
    /// rows the way llama.cpp's padded KV views are read.
    let capacity: Int
    public let kvDim: Int
    public let precision: Precision
    /// Positions 0..<count hold valid entries.
    public var count = 0

    let k: UnsafeMutableRawPointer
    let v: UnsafeMutableRawPointer
    let elementSize: Int

    public init(layers: Int, contextLength: Int, kvDim: Int, precision: Precision = .f16) {
        self.layers = layers
        self.contextLength = contextLength
        self.kvDim = kvDim
        self.precision = precision
        elementSize = precision == .f16 ? 2 : 4
        capacity = (contextLength + 255) / 256 * 256
        // Zeroed (calloc: pages are committed as they are written), so padded reads see zeros, never garbage.
        let bytes = max(1, layers * capacity * kvDim * elementSize)
        k = calloc(bytes, 1)!
        v = calloc(bytes, 1)!
    }

    deinit {
        free(k)
        free(v)
    }

    /// Bytes held by K and V together.
    public var byteCount: Int { 2 * layers * capacity * kvDim * elementSize }

    /// Start of layer `l`'s key row for position `pos` (kvDim elements).
    @inline(__always) func keyRow(_ l: Int, _ pos: Int) -> UnsafeMutableRawPointer {
        k + ((l * capacity + pos) * kvDim) * elementSize
    }

    /// Start of layer `l`'s value row for dimension `d` (capacity elements, one per position).
    @inline(__always) func valueRow(_ l: Int, _ d: Int) -> UnsafeMutableRawPointer {
        v + ((l * kvDim + d) * capacity) * elementSize
    }

    /// Stores the keys and values of `n` positions starting at `pos` for layer `l` (k, v: n × kvDim F32),
    /// rounding to F16 in the F16 cache.
    func store(layer l: Int, pos: Int, n: Int, k kx: UnsafePointer<Float>, v vx: UnsafePointer<Float>) {
        precondition(pos + n <= contextLength, "KV cache overflow")
        for t in 0..<n {
            let dst = keyRow(l, pos + t)
            if precision == .f16 {
                convertFloatToHalf(kx + t * kvDim, dst.assumingMemoryBound(to: UInt16.self), kvDim)
                for d in 0..<kvDim {
                    valueRow(l, d).storeBytes(of: floatToHalf(vx[t * kvDim + d]), toByteOffset: 2 * (pos + t), as: UInt16.self)
                }
            } else {
                dst.copyMemory(from: kx + t * kvDim, byteCount: 4 * kvDim)
                for d in 0..<kvDim {
                    valueRow(l, d).storeBytes(of: vx[t * kvDim + d], toByteOffset: 4 * (pos + t), as: Float.self)
                }
            }
        }
    }

    /// Forgets positions from `pos` on (the next write starts there).
    public func truncate(to pos: Int) { count = min(count, max(0, pos)) }
}
