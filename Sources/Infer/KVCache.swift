// KVCache: the keys and values of every position seen so far, per layer, in F16 (default, as llama.cpp) or F32.
//   K: layers × ctx × kvDim       (row per position, kvDim = kvHeads · headDim)
//   V: layers × kvDim × ctx       (ctx rounded up to 256; transposed, as llama.cpp stores it without flash attention, so that the
//                                 probability-weighted sum over positions is a contiguous dot product per dim)
// Memory is reserved up front (ctx positions) and committed by the OS as positions are written.
// `shift` is llama.cpp's context shift (K-shift): positions keep..<keep+discard are dropped, the later ones move
// down, and their keys are rotated back by −discard positions with the model's RoPE.
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

    /// Context shift: drops positions keep..<keep+discard and moves positions keep+discard..<count down by
    /// `discard`; count drops by `discard`. Moved keys are re-rotated by −discard positions as llama.cpp's K-shift
    /// does (ggml_rope_ext over the cache with the model's rope parameters: each F16 key widened to F32, rotated,
    /// rounded back); values move unchanged. The freed tail is zeroed, as in a cache that never held it.
    public func shift(keep: Int, discard: Int, rope: RoPE) {
        precondition(keep >= 0 && discard > 0 && keep + discard <= count, "shift keep \(keep) discard \(discard) of \(count)")
        precondition(rope.kvHeads * rope.headDim == kvDim, "rope heads do not match the cache")
        let moved = count - keep - discard
        let angles = rope.angles(pos: -discard)
        let row = UnsafeMutablePointer<Float>.allocate(capacity: kvDim)  // one key row (kvDim)
        defer { row.deallocate() }
        for l in 0..<layers {
            for p in keep..<(keep + moved) {
                let src = keyRow(l, p + discard), dst = keyRow(l, p)
                if precision == .f16 {
                    convertHalfToFloat(src, row, kvDim)
                } else {
                    row.update(from: src.assumingMemoryBound(to: Float.self), count: kvDim)
                }
                angles.withUnsafeBufferPointer { rope.rotate(row, angles: $0.baseAddress!) }
                if precision == .f16 {
                    convertFloatToHalf(row, dst.assumingMemoryBound(to: UInt16.self), kvDim)
                } else {
                    dst.copyMemory(from: row, byteCount: 4 * kvDim)
                }
            }
            for d in 0..<kvDim {
                let v = valueRow(l, d)
                (v + keep * elementSize).copyMemory(from: v + (keep + discard) * elementSize, byteCount: moved * elementSize)
                (v + (count - discard) * elementSize).initializeMemory(as: UInt8.self, repeating: 0, count: discard * elementSize)
            }
            keyRow(l, count - discard).initializeMemory(as: UInt8.self, repeating: 0, count: discard * kvDim * elementSize)
        }
        count -= discard
    }
}

/// The rotary position embedding a model applies to its keys, as its forward pass computes it (ggml's NORM mode:
/// adjacent pairs; θ from `base`, linear `freqScale`, per-pair `freqFactors` such as Llama 3's rope_freqs): what a
/// context shift re-applies. Models with learned positions (GPT-2) have none and cannot shift.
public struct RoPE: Sendable {
    public let kvHeads: Int, headDim: Int
    /// Leading dimensions of each head that rotate (llama.rope.dimension_count).
    public let nDims: Int
    public let base: Float
    public let freqScale: Float
    public let freqFactors: [Float]?

    public init(kvHeads: Int, headDim: Int, nDims: Int, base: Float, freqScale: Float, freqFactors: [Float]?) {
        precondition(nDims > 0 && nDims % 2 == 0 && nDims <= headDim && (freqFactors?.count ?? nDims / 2) == nDims / 2)
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.nDims = nDims
        self.base = base
        self.freqScale = freqScale
        self.freqFactors = freqFactors
    }

    /// cos/sin pairs for position `pos` (negative for a shift back), as the forward pass computes them.
    public func angles(pos: Int) -> [Float] {
        var a = [Float](repeating: 0, count: nDims)
        a.withUnsafeMutableBufferPointer { out in
            if let f = freqFactors {
                f.withUnsafeBufferPointer { Ops.ropeAngles(pos: pos, nDims: nDims, base: base, freqScale: freqScale, freqFactors: $0.baseAddress, out.baseAddress!) }
            } else {
                Ops.ropeAngles(pos: pos, nDims: nDims, base: base, freqScale: freqScale, freqFactors: nil, out.baseAddress!)
            }
        }
        return a
    }

    /// Rotates one row of kvHeads key vectors in place.
    public func rotate(_ x: UnsafeMutablePointer<Float>, angles: UnsafePointer<Float>) {
        Ops.rope(x, heads: kvHeads, headDim: headDim, nDims: nDims, angles: angles)
    }
}
