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

    /// General F32 matrix multiply, row-major: C (m×n) = alpha·op(A)·op(B) + beta·C, where op(A) is m×k (A itself,
    /// or Aᵀ of a k×m A when transA) and op(B) is k×n (B, or Bᵀ of an n×k B when transB); lda/ldb/ldc are the row
    /// strides of A, B and C as stored. The training ops' workhorse (forward, dx and dW of a linear layer).
    public static func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
                             _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int, beta: Float = 0,
                             _ c: UnsafeMutablePointer<Float>, ldc: Int) {
        _ = singleThreaded
        guard m > 0 && n > 0 else { return }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}
