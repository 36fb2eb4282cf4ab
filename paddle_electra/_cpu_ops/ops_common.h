// Shared helpers of the fused CPU training kernels (ops.cc, attention.cc): the float32 check,
// the softmax of a row and its gradient, the two sgemms Paddle's CPU wheel ships, and the
// counter-based hash behind dropout masks.
#pragma once

#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "paddle/extension.h"

namespace pe_ops {

inline void CheckFloat(const paddle::Tensor& t, const char* what) {
  PD_CHECK(t.dtype() == paddle::DataType::FLOAT32, what, " must be float32");
  PD_CHECK(t.is_cpu(), what, " must be on the CPU");
}

// Softmax of one row of n values, out = exp(x - max) / sum (out may be x itself).
inline void SoftmaxRow(const float* x, float* out, int64_t n) {
  float top = x[0];
#pragma omp simd reduction(max : top)
  for (int64_t j = 1; j < n; ++j) top = x[j] > top ? x[j] : top;
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) out[j] = expf(x[j] - top);
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < n; ++j) sum += out[j];
  const float inv = 1.0f / sum;
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) out[j] *= inv;
}

// Its gradient for one row: dx = y * (dy - sum(dy * y)) (dx may be dy itself).
inline void SoftmaxGradRow(const float* y, const float* dy, float* dx, int64_t n) {
  float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
  for (int64_t j = 0; j < n; ++j) dot += y[j] * dy[j];
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) dx[j] = y[j] * (dy[j] - dot);
}

// The Linear's and the attention's GEMMs go to one of two sgemms that Paddle's CPU wheel ships and has
// already loaded, picked by the caller (``use_mkl``):
// * oneDNN's (libdnnl.so.3): on AVX-512 AMD CPUs it runs 1.6-3.7x faster than
//   the MKL 2019 GEMM dygraph matmul uses, whose fast kernels are AVX2 there;
//   oneDNN threads with GNU OpenMP, so its thread count is set there;
// * MKL's cblas_sgemm (libmklml_intel.so): on Intel CPUs it reaches AVX-512 too
//   and is as fast or a little faster than oneDNN's there (docs/performance.md);
//   its thread count is set for this thread only and restored afterwards.
// Same float32 arithmetic either way; only the summation order differs.

using SgemmFn = int (*)(char, char, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                        int64_t, float, float*, int64_t);
using CblasSgemmFn = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int, float,
                              float*, int);
using SetThreadsFn = void (*)(int);
using SetLocalThreadsFn = int (*)(int);

constexpr int kCblasRowMajor = 101, kCblasNoTrans = 111, kCblasTrans = 112;  // mkl_cblas.h

struct Blas {
  SgemmFn dnnl_sgemm = nullptr;
  SetThreadsFn gomp_set_threads = nullptr;
  CblasSgemmFn mkl_sgemm = nullptr;
  SetLocalThreadsFn mkl_set_local_threads = nullptr;
};

inline const Blas& GetBlas() {
  static const Blas blas = [] {
    Blas d;
    // RTLD_NOLOAD: only a library Paddle already loaded, never one found elsewhere on the path
    if (void* lib = dlopen("libdnnl.so.3", RTLD_NOW | RTLD_NOLOAD)) {
      d.dnnl_sgemm = reinterpret_cast<SgemmFn>(dlsym(lib, "dnnl_sgemm"));
    }
    if (void* gomp = dlopen("libgomp.so.1", RTLD_NOW | RTLD_NOLOAD)) {
      d.gomp_set_threads = reinterpret_cast<SetThreadsFn>(dlsym(gomp, "omp_set_num_threads"));
    }
    if (void* mkl = dlopen("libmklml_intel.so", RTLD_NOW | RTLD_NOLOAD)) {
      d.mkl_sgemm = reinterpret_cast<CblasSgemmFn>(dlsym(mkl, "cblas_sgemm"));
      // the C spelling: the lower-case mkl_set_num_threads_local is the Fortran one, which takes a pointer
      d.mkl_set_local_threads = reinterpret_cast<SetLocalThreadsFn>(dlsym(mkl, "MKL_Set_Num_Threads_Local"));
    }
    return d;
  }();
  return blas;
}

// Row-major c[m, n] = op(a) @ op(b), op = transpose where asked; c is overwritten.
inline void Gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, const float* b, float* c,
          int threads, bool use_mkl) {
  if (m == 0 || n == 0) return;  // nothing to write (oneDNN rejects zero leading dimensions)
  if (k == 0) {                   // an empty sum: zeros
    std::fill(c, c + m * n, 0.0f);
    return;
  }
  const Blas& d = GetBlas();
  const int64_t lda = ta ? m : k, ldb = tb ? k : n;
  if (use_mkl) {
    PD_CHECK(d.mkl_sgemm != nullptr && d.mkl_set_local_threads != nullptr,
             "MKL's cblas_sgemm is not loaded in this process");
    constexpr int64_t kIntMax = 2147483647;  // MKL's LP64 interface takes 32-bit sizes
    PD_CHECK(m <= kIntMax && n <= kIntMax && k <= kIntMax && lda <= kIntMax && ldb <= kIntMax,
             "a GEMM dimension exceeds MKL's 32-bit sizes");
    const int previous = d.mkl_set_local_threads(threads);
    d.mkl_sgemm(kCblasRowMajor, ta ? kCblasTrans : kCblasNoTrans, tb ? kCblasTrans : kCblasNoTrans,
                static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), 1.0f, a, static_cast<int>(lda), b,
                static_cast<int>(ldb), 0.0f, c, static_cast<int>(n));
    d.mkl_set_local_threads(previous);
    return;
  }
  PD_CHECK(d.dnnl_sgemm != nullptr, "oneDNN's dnnl_sgemm is not loaded in this process");
  if (d.gomp_set_threads != nullptr) d.gomp_set_threads(threads);
  const int status = d.dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, n);
  PD_CHECK(status == 0, "dnnl_sgemm failed with status ", status);
}

// The random bits of dropout masks: SplitMix64's output function of a counter. Element i of a
// mask drawn with seed s compares draw i of DropoutBase(s) with the threshold: bits 16 * (i % 4)
// and up of the hash of counter i / 4 (the dropout kernel reads them four at a time).

inline uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ULL;

inline uint64_t DropoutBase(int64_t seed) { return Mix64(static_cast<uint64_t>(seed) * kGolden + 1); }

// The hash of counter g: draws 4g .. 4g + 3, 16 bits each from the low end.
inline uint64_t DropoutWord(uint64_t base, uint64_t g) { return Mix64(base + g * kGolden); }

inline uint32_t DropoutDraw(uint64_t base, uint64_t i) {
  return static_cast<uint32_t>(DropoutWord(base, i >> 2) >> (16 * (i & 3))) & 0xFFFFu;
}

}  // namespace pe_ops
