// Shared helpers of the fused CPU training kernels (ops.cc, attention.cc): the float32 check,
// the softmax of a row and its gradient, the two sgemms Paddle's CPU wheel ships (and oneDNN's
// matmul with bf16 arithmetic), and the counter-based hash behind dropout masks.
#pragma once

#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>
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
// already loaded, picked by the caller (``gemm``):
// * oneDNN's (libdnnl.so.3): on AVX-512 AMD CPUs it runs 1.6-3.7x faster than
//   the MKL 2019 GEMM dygraph matmul uses, whose fast kernels are AVX2 there;
//   oneDNN threads with GNU OpenMP, so its thread count is set there;
// * MKL's cblas_sgemm (libmklml_intel.so): on Intel CPUs it reaches AVX-512 too
//   and is as fast or a little faster than oneDNN's there (docs/performance.md);
//   its thread count is set for this thread only and restored afterwards.
// Same float32 arithmetic either way; only the summation order differs.
// The Linear has a third, asked for by name only (it changes the arithmetic): oneDNN's matmul
// primitive on the same float32 tensors with its fpmath mode set to bf16, so the products are of
// bf16-rounded inputs, summed in float32 (AMX tiles or AVX512-BF16; 2.5-4x the sgemm on an AMX Xeon).

enum GemmKind : int { kGemmOnednn = 0, kGemmMkl = 1, kGemmBf16 = 2 };

using SgemmFn = int (*)(char, char, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                        int64_t, float, float*, int64_t);
using CblasSgemmFn = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int, float,
                              float*, int);
using SetThreadsFn = void (*)(int);
using SetLocalThreadsFn = int (*)(int);

constexpr int kCblasRowMajor = 101, kCblasNoTrans = 111, kCblasTrans = 112;  // mkl_cblas.h

// The few entries of oneDNN 3's C API the bf16 matmul needs (dnnl.h), declared here because Paddle's
// wheel ships its oneDNN headers without the oneapi/dnnl/ folder they include. The handles are opaque
// pointers; the numbers are dnnl_types.h's and do not change within oneDNN 3 (the .so.3 loaded).
namespace dnnl_c {
using Handle = void*;
using Dims = int64_t[12];
constexpr int kBf16Math = 3;                          // dnnl_fpmath_mode_bf16
constexpr int kF32 = 3, kCpu = 1, kInOrder = 1;       // dnnl_f32, dnnl_cpu, dnnl_stream_in_order
constexpr int kArgSrc = 1, kArgDst = 17, kArgWeights = 33;
struct ExecArg { int arg; Handle memory; };
using EngineCreateFn = int (*)(Handle*, int, size_t);
using StreamCreateFn = int (*)(Handle*, Handle, unsigned);
using MdCreateFn = int (*)(Handle*, int, const int64_t*, int, const int64_t*);
using AttrCreateFn = int (*)(Handle*);
using AttrSetFpmathFn = int (*)(Handle, int);
using MatmulPdCreateFn = int (*)(Handle*, Handle, Handle, Handle, Handle, Handle, Handle);
using PrimitiveCreateFn = int (*)(Handle*, Handle);
using MemoryCreateFn = int (*)(Handle*, Handle, Handle, void*);
using SetHandleFn = int (*)(Handle, void*);
using ExecuteFn = int (*)(Handle, Handle, int, const ExecArg*);
using WaitFn = int (*)(Handle);
}  // namespace dnnl_c

struct Blas {
  SgemmFn dnnl_sgemm = nullptr;
  SetThreadsFn gomp_set_threads = nullptr;
  CblasSgemmFn mkl_sgemm = nullptr;
  SetLocalThreadsFn mkl_set_local_threads = nullptr;
  void* dnnl = nullptr;  // libdnnl.so.3's handle, for the matmul API
};

inline const Blas& GetBlas() {
  static const Blas blas = [] {
    Blas d;
    // RTLD_NOLOAD: only a library Paddle already loaded, never one found elsewhere on the path
    if (void* lib = dlopen("libdnnl.so.3", RTLD_NOW | RTLD_NOLOAD)) {
      d.dnnl = lib;
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

// oneDNN's matmul with bf16 arithmetic: one primitive per (transposes, sizes), made on first use and kept,
// with its three memory objects, whose data pointers are set at each call (a training step repeats a few
// dozen shapes). The mutex makes the shared objects safe; the kernels are called from one thread anyway.
class Bf16Matmul {
 public:
  static Bf16Matmul& Get() {
    static Bf16Matmul instance;
    return instance;
  }

  void Run(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, const float* b, float* c) {
    std::lock_guard<std::mutex> hold(mutex_);
    Entry& e = Find(ta, tb, m, n, k);
    Check(set_handle_(e.a, const_cast<float*>(a)), "setting a data pointer");
    Check(set_handle_(e.b, const_cast<float*>(b)), "setting a data pointer");
    Check(set_handle_(e.c, c), "setting a data pointer");
    const dnnl_c::ExecArg args[3] = {{dnnl_c::kArgSrc, e.a}, {dnnl_c::kArgWeights, e.b}, {dnnl_c::kArgDst, e.c}};
    Check(execute_(e.primitive, stream_, 3, args), "running the matmul");
    Check(wait_(stream_), "waiting for the matmul");
  }

 private:
  struct Entry { dnnl_c::Handle primitive, a, b, c; };

  template <typename F>
  static F Sym(void* lib, const char* name) {
    void* f = lib != nullptr ? dlsym(lib, name) : nullptr;
    PD_CHECK(f != nullptr, "oneDNN's ", name, " is not loaded in this process");
    return reinterpret_cast<F>(f);
  }

  static void Check(int status, const char* what) { PD_CHECK(status == 0, "oneDNN failed ", what, " (status ", status, ")"); }

  Bf16Matmul() {
    void* lib = GetBlas().dnnl;
    md_create_ = Sym<dnnl_c::MdCreateFn>(lib, "dnnl_memory_desc_create_with_strides");
    pd_create_ = Sym<dnnl_c::MatmulPdCreateFn>(lib, "dnnl_matmul_primitive_desc_create");
    primitive_create_ = Sym<dnnl_c::PrimitiveCreateFn>(lib, "dnnl_primitive_create");
    memory_create_ = Sym<dnnl_c::MemoryCreateFn>(lib, "dnnl_memory_create");
    set_handle_ = Sym<dnnl_c::SetHandleFn>(lib, "dnnl_memory_set_data_handle");
    execute_ = Sym<dnnl_c::ExecuteFn>(lib, "dnnl_primitive_execute");
    wait_ = Sym<dnnl_c::WaitFn>(lib, "dnnl_stream_wait");
    Check(Sym<dnnl_c::EngineCreateFn>(lib, "dnnl_engine_create")(&engine_, dnnl_c::kCpu, 0), "making a CPU engine");
    Check(Sym<dnnl_c::StreamCreateFn>(lib, "dnnl_stream_create")(&stream_, engine_, dnnl_c::kInOrder),
          "making a stream");
    Check(Sym<dnnl_c::AttrCreateFn>(lib, "dnnl_primitive_attr_create")(&attr_), "making an attribute");
    Check(Sym<dnnl_c::AttrSetFpmathFn>(lib, "dnnl_primitive_attr_set_fpmath_mode")(attr_, dnnl_c::kBf16Math),
          "setting the bf16 fpmath mode");
  }

  // A row-major [rows, cols] float32 matrix, or its transpose read in place ([cols, rows] stored).
  dnnl_c::Handle Desc(int64_t rows, int64_t cols, bool transposed) {
    dnnl_c::Dims dims = {rows, cols}, strides = {transposed ? 1 : cols, transposed ? rows : 1};
    dnnl_c::Handle md = nullptr;
    Check(md_create_(&md, 2, dims, dnnl_c::kF32, strides), "describing a matrix");
    return md;
  }

  Entry& Find(bool ta, bool tb, int64_t m, int64_t n, int64_t k) {
    const auto key = std::make_tuple(ta, tb, m, n, k);
    auto found = entries_.find(key);
    if (found != entries_.end()) return found->second;
    // descriptors and the primitive descriptor are kept too (a few per shape): the memory objects refer to them
    dnnl_c::Handle a = Desc(m, k, ta), b = Desc(k, n, tb), c = Desc(m, n, false), pd = nullptr;
    Check(pd_create_(&pd, engine_, a, b, nullptr, c, attr_), "describing the matmul");
    Entry e{};
    Check(primitive_create_(&e.primitive, pd), "making the matmul");
    Check(memory_create_(&e.a, a, engine_, nullptr), "making a memory object");
    Check(memory_create_(&e.b, b, engine_, nullptr), "making a memory object");
    Check(memory_create_(&e.c, c, engine_, nullptr), "making a memory object");
    return entries_.emplace(key, e).first->second;
  }

  std::mutex mutex_;
  std::map<std::tuple<bool, bool, int64_t, int64_t, int64_t>, Entry> entries_;
  dnnl_c::Handle engine_ = nullptr, stream_ = nullptr, attr_ = nullptr;
  dnnl_c::MdCreateFn md_create_;
  dnnl_c::MatmulPdCreateFn pd_create_;
  dnnl_c::PrimitiveCreateFn primitive_create_;
  dnnl_c::MemoryCreateFn memory_create_;
  dnnl_c::SetHandleFn set_handle_;
  dnnl_c::ExecuteFn execute_;
  dnnl_c::WaitFn wait_;
};

// Row-major c[m, n] = op(a) @ op(b), op = transpose where asked; c is overwritten.
inline void Gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, const float* b, float* c,
          int threads, int gemm) {
  if (m == 0 || n == 0) return;  // nothing to write (oneDNN rejects zero leading dimensions)
  if (k == 0) {                   // an empty sum: zeros
    std::fill(c, c + m * n, 0.0f);
    return;
  }
  const Blas& d = GetBlas();
  const int64_t lda = ta ? m : k, ldb = tb ? k : n;
  if (gemm == kGemmMkl) {
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
  PD_CHECK(gemm == kGemmOnednn || gemm == kGemmBf16, "unknown GEMM kind ", gemm);
  PD_CHECK(d.dnnl_sgemm != nullptr, "oneDNN's dnnl_sgemm is not loaded in this process");
  if (d.gomp_set_threads != nullptr) d.gomp_set_threads(threads);
  if (gemm == kGemmBf16) {
    Bf16Matmul::Get().Run(ta, tb, m, n, k, a, b, c);
    return;
  }
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
