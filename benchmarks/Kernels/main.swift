// Kernel benchmark (release build): matrix × vector and matrix × matrix per weight type, in GB/s of
// weight bytes and GFLOP/s, next to this machine's memory bandwidth measured in the same run
// (a STREAM-style copy). Prints one JSON object per line (for benchmarks/kernels.py to compare with
// llama.cpp's ggml on the same shapes) after a readable table.
//   usage: swift run -c release kernels-bench [--threads N] [--types q4_0,q8_0,...] [--shapes 4096x4096,...]
//                                             [--quick] [--json] [--cpu-time]
import Foundation
import Formats
import Quant

/// Wall-clock seconds, or with --cpu-time this thread's CPU seconds (for --threads 1 on a busy machine: time
/// spent preempted is not counted).
nonisolated(unsafe) var cpuTime = false
func now() -> Double {
    if cpuTime {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
    return Double(DispatchTime.now().uptimeNanoseconds) / 1e9
}

/// Best-of-N seconds for `body`.
func best(_ reps: Int, _ body: () -> Void) -> Double {
    var b = Double.infinity
    for _ in 0..<reps {
        let t0 = now(); body(); b = min(b, now() - t0)
    }
    return b
}

var threads = ProcessInfo.processInfo.activeProcessorCount
var typeNames = ["q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k", "f16", "bf16", "f32"]
var quick = false
var json = false
var shapeList: [(rows: Int, cols: Int)]? = nil
var args = CommandLine.arguments.dropFirst().makeIterator()
while let a = args.next() {
    switch a {
    case "--threads": threads = Int(args.next() ?? "") ?? threads
    case "--types": typeNames = (args.next() ?? "").split(separator: ",").map(String.init)
    case "--quick": quick = true
    case "--json": json = true
    case "--cpu-time": cpuTime = true
    case "--shapes":
        shapeList = (args.next() ?? "").split(separator: ",").compactMap { s in
            let p = s.split(separator: "x").compactMap { Int($0) }
            return p.count == 2 ? (p[0], p[1]) : nil
        }
    default: FileHandle.standardError.write(Data("unknown option \(a)\n".utf8)); exit(2)
    }
}

// STREAM-style copy: bytes read + bytes written per second, 512 MiB arrays (far beyond the LLC).
let streamBytes = 512 << 20
let src = UnsafeMutableRawPointer.allocate(byteCount: streamBytes, alignment: 4096)
let dst = UnsafeMutableRawPointer.allocate(byteCount: streamBytes, alignment: 4096)
memset(src, 1, streamBytes); memset(dst, 0, streamBytes)
let copy1 = best(5) { memcpy(dst, src, streamBytes) }
let (sb, db) = (UncheckedSendable(src), UncheckedSendable(dst))
let nThreads = threads
let copyN = best(5) {
    DispatchQueue.concurrentPerform(iterations: nThreads) { t in
        let lo = t * streamBytes / nThreads, hi = (t + 1) * streamBytes / nThreads
        memcpy(db.p + lo, sb.p + lo, hi - lo)
    }
}
// Read-only bandwidth (what a matrix-vector product needs): the F32 dot kernel of the array with itself
// (one stream of loads), split across the threads.
let sink = UnsafeMutablePointer<Float>.allocate(capacity: 64)
let f32Dot = Dot.kernel(for: .f32)!
let readN = best(5) {
    DispatchQueue.concurrentPerform(iterations: nThreads) { t in
        let lo = t * streamBytes / nThreads / 4 / 1024 * 1024, hi = (t + 1) * streamBytes / nThreads / 4 / 1024 * 1024
        let p = UnsafeRawPointer(sb.p) + lo * 4
        UnsafeMutablePointer<Float>(mutating: UnsafeRawPointer(db.p).assumingMemoryBound(to: Float.self))[t] = f32Dot(Int32(hi - lo), p, p)
    }
}
let bw1 = 2 * Double(streamBytes) / copy1 / 1e9, bwN = 2 * Double(streamBytes) / copyN / 1e9
let bwRead = Double(streamBytes) / readN / 1e9
sink.deallocate()
print(String(format: "memory bandwidth: copy (read+write) %.1f GB/s on 1 thread, %.1f GB/s on %d threads; read %.1f GB/s on %d threads",
             bw1, bwN, threads, bwRead, threads))
print("CPU features: \(CPUFeatures.current)")
src.deallocate(); dst.deallocate()
if json { print(#"{"kind":"stream","threads":\#(threads),"gbps_1":\#(bw1),"gbps_n":\#(bwN),"gbps_read":\#(bwRead)}"#) }

struct UncheckedSendable: @unchecked Sendable { let p: UnsafeMutableRawPointer; init(_ p: UnsafeMutableRawPointer) { self.p = p } }

// Shapes: Llama-3-8B's 4096 × 4096 (attn_q) and 14336 × 4096 (ffn_up: 14336 rows of 4096), plus a
// cache-resident 1024 × 1024.
let shapes: [(rows: Int, cols: Int)] = shapeList ?? (quick ? [(1024, 1024), (4096, 4096)] : [(1024, 1024), (4096, 4096), (14336, 4096)])
print("\ntype   rows × cols     weights     matvec µs   GB/s  %read  GFLOP/s | matmul(512) ms  GFLOP/s")
for name in typeNames {
    guard let type = GGMLType(name: name), Quant.Quantize.supports(type) else { print("skip \(name)"); continue }
    for (rows, cols) in shapes {
        let stride = type.byteCount(elements: cols)!
        let w = UnsafeMutableRawPointer.allocate(byteCount: rows * stride, alignment: 64)
        defer { w.deallocate() }
        var rowF = [Float](repeating: 0, count: cols)
        var seed: UInt64 = 42
        for r in 0..<rows {
            for c in 0..<cols { seed = seed &* 6364136223846793005 &+ 1442695040888963407; rowF[c] = Float(Int64(bitPattern: seed) >> 40) / Float(1 << 23) }
            try! rowF.withUnsafeBufferPointer { try Quant.Quantize.row(type, $0.baseAddress!, w + r * stride, cols) }
        }
        let x = (0..<(512 * cols)).map { Float(($0 * 7919) % 1000) / 1000 - 0.5 }
        var y = [Float](repeating: 0, count: 512 * rows)
        let reps = rows * stride > (64 << 20) ? 5 : 20
        let tv = best(reps) { x.withUnsafeBufferPointer { xb in y.withUnsafeMutableBufferPointer { MatMul.matvec(type, w, rows: rows, cols: cols, x: xb.baseAddress!, y: $0.baseAddress!, threads: threads) } } }
        let gbps = Double(rows * stride) / tv / 1e9
        // Matrices larger than the last-level cache, really read from memory: cycle through copies
        // totalling ≥ 256 MiB so no pass finds the previous one's weights in cache.
        var dram = Double.nan
        if rows * stride >= (16 << 20) {
            let copies = max(2, (256 << 20) / (rows * stride))
            let ws = (0..<copies).map { _ in UnsafeMutableRawPointer.allocate(byteCount: rows * stride, alignment: 64) }
            for c in ws { c.copyMemory(from: w, byteCount: rows * stride) }
            let pass = best(3) { x.withUnsafeBufferPointer { xb in y.withUnsafeMutableBufferPointer { yb in
                for c in ws { MatMul.matvec(type, c, rows: rows, cols: cols, x: xb.baseAddress!, y: yb.baseAddress!, threads: threads) } } } }
            ws.forEach { $0.deallocate() }
            dram = Double(rows * stride) * Double(copies) / pass / 1e9
        }
        let gflops = 2 * Double(rows * cols) / tv / 1e9
        var tm = Double.nan
        if !quick || rows <= 4096 {
            tm = best(2) { x.withUnsafeBufferPointer { xb in y.withUnsafeMutableBufferPointer { MatMul.matmul(type, w, rows: rows, cols: cols, x: xb.baseAddress!, batch: 512, y: $0.baseAddress!, threads: threads) } } }
        }
        let mmFlops = 2 * 512 * Double(rows * cols) / tm / 1e9
        print(String(format: "%-6@ %5d × %-5d %8.1f MB  %9.1f  %6.1f  %4.0f%%  %7.1f | %12.1f  %7.1f", name, rows, cols,
                     Double(rows * stride) / 1e6, tv * 1e6, gbps, 100 * gbps / bwRead, gflops, tm * 1e3, mmFlops)
              + (dram.isNaN ? "" : String(format: " | from memory: %.1f GB/s = %.0f%% of read bandwidth", dram, 100 * dram / bwRead)))
        if json { print(#"{"kind":"matvec","type":"\#(name)","rows":\#(rows),"cols":\#(cols),"threads":\#(threads),"seconds":\#(tv),"gbps":\#(gbps),"matmul512_seconds":\#(tm.isNaN ? -1 : tm),"dram_gbps":\#(dram.isNaN ? -1 : dram)}"#) }
    }
}
