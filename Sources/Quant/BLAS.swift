// BLAS: F32 matrix multiply through the platform's BLAS (OpenBLAS on Linux, Accelerate on macOS).
#if canImport(Accelerate)
import Accelerate
#else
import CBLAS
#endif

public enum BLAS {
    /// llmkit splits work across its own ThreadPool; a second pool of BLAS threads spinning after each
    /// call would steal the cores the next kernels need, so OpenBLAS runs one thread per call.
    private static let singleThreaded: Void = {
        #if !canImport(Accelerate)
        openblas_set_num_threads(1)
        #endif
    }()

    /// C (M×N) = A (M×K) · Bᵀ where B is N×K, all row-major F32 — the layout of a weight matrix whose rows
    /// are output features (ggml's mul_mat). `beta` 0 overwrites C, 1 accumulates.
    /// `ldc` is C's row stride (default n: C is dense; larger to write a column block of a wider matrix).
    public static func matmulTransposedB(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
                                         m: Int, n: Int, k: Int, ldc: Int? = nil, beta: Float = 0) {
        _ = singleThreaded
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), 1, a, Int32(k), b, Int32(k),
                    beta, c, Int32(ldc ?? n))
    }
}
