// Fused CPU training kernels for paddle_electra: exact GELU, LayerNorm, softmax,
// dropout (float32, contiguous, row-major; the last axis is the row), and a
// Linear whose GEMMs run in MKL's or oneDNN's sgemm (or, asked for by name, oneDNN's matmul in bf16 arithmetic).
//
// Paddle 3.3's CPU kernels for these run on one thread and, for the gradients,
// element by element without SIMD; each loop here is one pass over memory on
// every thread (OpenMP, the same Intel runtime Paddle's MKL uses) with glibc's
// vector erf / exp. Built once per machine by paddle_electra/_cpu_ops/__init__.py.
#include "ops_common.h"

using pe_ops::CheckFloat;
using pe_ops::Gemm;

namespace {

constexpr float kInvSqrt2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;

}  // namespace

// GELU, exact (erf) form: x * Phi(x).
std::vector<paddle::Tensor> GeluForward(const paddle::Tensor& x, int threads) {
  CheckFloat(x, "x");
  auto out = paddle::empty_like(x);
  const float* xp = x.data<float>();
  float* op = out.data<float>();
  const int64_t n = x.numel();
#pragma omp parallel for simd num_threads(threads) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const float v = xp[i];
    op[i] = 0.5f * v * (1.0f + erff(v * kInvSqrt2));
  }
  return {out};
}

// d GELU / dx = Phi(x) + x * phi(x).
std::vector<paddle::Tensor> GeluBackward(const paddle::Tensor& x, const paddle::Tensor& grad, int threads) {
  CheckFloat(x, "x");
  CheckFloat(grad, "grad");
  auto dx = paddle::empty_like(x);
  const float* xp = x.data<float>();
  const float* gp = grad.data<float>();
  float* dp = dx.data<float>();
  const int64_t n = x.numel();
#pragma omp parallel for simd num_threads(threads) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const float v = xp[i];
    const float cdf = 0.5f * (1.0f + erff(v * kInvSqrt2));
    const float pdf = kInvSqrt2Pi * expf(-0.5f * v * v);
    dp[i] = gp[i] * (cdf + v * pdf);
  }
  return {dx};
}

// LayerNorm over the last axis of [rows, h]: out = (x - mean) * rstd * w + b.
// Mean and rstd (one per row) are kept for the gradient.
std::vector<paddle::Tensor> LayerNormForward(const paddle::Tensor& x, const paddle::Tensor& w,
                                             const paddle::Tensor& b, float eps, int threads) {
  CheckFloat(x, "x");
  CheckFloat(w, "weight");
  CheckFloat(b, "bias");
  const int64_t h = w.numel();
  PD_CHECK(h > 0 && !x.shape().empty() && x.shape().back() == h && b.numel() == h,
           "x's last axis must match weight and bias");
  const int64_t rows = x.numel() / h;
  auto out = paddle::empty_like(x);
  auto mean = paddle::empty({rows}, paddle::DataType::FLOAT32, paddle::CPUPlace());
  auto rstd = paddle::empty({rows}, paddle::DataType::FLOAT32, paddle::CPUPlace());
  const float* xp = x.data<float>();
  const float* wp = w.data<float>();
  const float* bp = b.data<float>();
  float* op = out.data<float>();
  float* mp = mean.data<float>();
  float* rp = rstd.data<float>();
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = xp + r * h;
    float* orow = op + r * h;
    double sum = 0.0;
    for (int64_t j = 0; j < h; ++j) sum += xr[j];
    const float mu = static_cast<float>(sum / h);
    double sq = 0.0;
    for (int64_t j = 0; j < h; ++j) {
      const double d = xr[j] - mu;
      sq += d * d;
    }
    const float rs = 1.0f / std::sqrt(static_cast<float>(sq / h) + eps);
#pragma omp simd
    for (int64_t j = 0; j < h; ++j) orow[j] = (xr[j] - mu) * rs * wp[j] + bp[j];
    mp[r] = mu;
    rp[r] = rs;
  }
  return {out, mean, rstd};
}

// dx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat)) with gw = grad * w;
// dw = sum over rows of grad * xhat, db = sum over rows of grad (per-thread partial sums).
std::vector<paddle::Tensor> LayerNormBackward(const paddle::Tensor& x, const paddle::Tensor& w,
                                              const paddle::Tensor& mean, const paddle::Tensor& rstd,
                                              const paddle::Tensor& grad, int threads) {
  CheckFloat(grad, "grad");
  const int64_t h = w.numel();
  const int64_t rows = x.numel() / h;
  auto dx = paddle::empty_like(x);
  auto dw = paddle::empty_like(w);
  auto db = paddle::empty_like(w);
  const float* xp = x.data<float>();
  const float* wp = w.data<float>();
  const float* mp = mean.data<float>();
  const float* rp = rstd.data<float>();
  const float* gp = grad.data<float>();
  float* dxp = dx.data<float>();
  const int nthreads = threads < 1 ? 1 : threads;
  std::vector<double> dw_part(static_cast<size_t>(nthreads) * h, 0.0), db_part(static_cast<size_t>(nthreads) * h, 0.0);
#pragma omp parallel num_threads(nthreads)
  {
#ifdef _OPENMP
    const int t = omp_get_thread_num();
#else
    const int t = 0;
#endif
    double* dwt = dw_part.data() + static_cast<size_t>(t) * h;
    double* dbt = db_part.data() + static_cast<size_t>(t) * h;
    std::vector<float> xhat(h);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = xp + r * h;
      const float* gr = gp + r * h;
      float* dr = dxp + r * h;
      const float mu = mp[r], rs = rp[r];
      float a = 0.0f, c = 0.0f;
#pragma omp simd reduction(+ : a, c)
      for (int64_t j = 0; j < h; ++j) {
        const float xh = (xr[j] - mu) * rs;
        const float gw = gr[j] * wp[j];
        xhat[j] = xh;
        a += gw;
        c += gw * xh;
      }
      a /= h;
      c /= h;
#pragma omp simd
      for (int64_t j = 0; j < h; ++j) dr[j] = rs * (gr[j] * wp[j] - a - xhat[j] * c);
      for (int64_t j = 0; j < h; ++j) {
        dwt[j] += gr[j] * xhat[j];
        dbt[j] += gr[j];
      }
    }
  }
  float* dwp = dw.data<float>();
  float* dbp = db.data<float>();
  for (int64_t j = 0; j < h; ++j) {
    double sw = 0.0, sb = 0.0;
    for (int t = 0; t < nthreads; ++t) {
      sw += dw_part[static_cast<size_t>(t) * h + j];
      sb += db_part[static_cast<size_t>(t) * h + j];
    }
    dwp[j] = static_cast<float>(sw);
    dbp[j] = static_cast<float>(sb);
  }
  return {dx, dw, db};
}

// Softmax over the last axis of [rows, n].
std::vector<paddle::Tensor> SoftmaxForward(const paddle::Tensor& x, int threads) {
  CheckFloat(x, "x");
  PD_CHECK(x.shape().size() >= 1 && x.shape().back() > 0, "softmax needs a non-empty last axis");
  const int64_t n = x.shape().back();
  const int64_t rows = x.numel() / n;
  auto out = paddle::empty_like(x);
  const float* xp = x.data<float>();
  float* op = out.data<float>();
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t r = 0; r < rows; ++r) pe_ops::SoftmaxRow(xp + r * n, op + r * n, n);
  return {out};
}

// dx = y * (dy - sum(dy * y)) per row.
std::vector<paddle::Tensor> SoftmaxBackward(const paddle::Tensor& out, const paddle::Tensor& grad, int threads) {
  CheckFloat(grad, "grad");
  const int64_t n = out.shape().back();
  const int64_t rows = out.numel() / n;
  auto dx = paddle::empty_like(out);
  const float* yp = out.data<float>();
  const float* gp = grad.data<float>();
  float* dp = dx.data<float>();
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t r = 0; r < rows; ++r) pe_ops::SoftmaxGradRow(yp + r * n, gp + r * n, dp + r * n, n);
  return {dx};
}

PD_BUILD_OP(paddle_electra_gelu)
    .Inputs({"X"})
    .Outputs({"Out"})
    .Attrs({"threads: int"})
    .SetKernelFn(PD_KERNEL(GeluForward));

PD_BUILD_GRAD_OP(paddle_electra_gelu)
    .Inputs({"X", paddle::Grad("Out")})
    .Outputs({paddle::Grad("X")})
    .Attrs({"threads: int"})
    .SetKernelFn(PD_KERNEL(GeluBackward));

PD_BUILD_OP(paddle_electra_layer_norm)
    .Inputs({"X", "W", "B"})
    .Outputs({"Out", "Mean", "Rstd"})
    .Attrs({"eps: float", "threads: int"})
    .SetKernelFn(PD_KERNEL(LayerNormForward));

PD_BUILD_GRAD_OP(paddle_electra_layer_norm)
    .Inputs({"X", "W", "Mean", "Rstd", paddle::Grad("Out")})
    .Outputs({paddle::Grad("X"), paddle::Grad("W"), paddle::Grad("B")})
    .Attrs({"threads: int"})
    .SetKernelFn(PD_KERNEL(LayerNormBackward));

PD_BUILD_OP(paddle_electra_softmax)
    .Inputs({"X"})
    .Outputs({"Out"})
    .Attrs({"threads: int"})
    .SetKernelFn(PD_KERNEL(SoftmaxForward));

PD_BUILD_GRAD_OP(paddle_electra_softmax)
    .Inputs({"Out", paddle::Grad("Out")})
    .Outputs({paddle::Grad("X")})
    .Attrs({"threads: int"})
    .SetKernelFn(PD_KERNEL(SoftmaxBackward));

// Linear, out = x @ w + b for x [..., K], w [K, N], b [N], with its gradients
// (x's leading axes are one axis M of rows), on the GEMM ``gemm`` picks (ops_common.h: oneDNN's or MKL's sgemm, or oneDNN's bf16 matmul).
namespace {

// Rows of x: the product of its leading axes (not numel / K, which divides by zero when K is 0).
int64_t Rows(const paddle::Tensor& x) {
  int64_t m = 1;
  for (int i = 0; i + 1 < x.dims().size(); ++i) m *= x.dims()[i];
  return m;
}

void CheckLinear(const paddle::Tensor& x, const paddle::Tensor& w, const paddle::Tensor& b) {
  CheckFloat(x, "x");
  CheckFloat(w, "weight");
  CheckFloat(b, "bias");
  PD_CHECK(x.dims().size() >= 2 && w.dims().size() == 2 && b.dims().size() == 1, "x, weight, bias must be N-D, 2-D, 1-D");
  PD_CHECK(x.dims()[x.dims().size() - 1] == w.dims()[0] && w.dims()[1] == b.dims()[0], "x [..., K], weight [K, N], bias [N] do not match");
}

}  // namespace

std::vector<paddle::Tensor> LinearForward(const paddle::Tensor& x, const paddle::Tensor& w, const paddle::Tensor& b,
                                          int threads, int gemm) {
  CheckLinear(x, w, b);
  const int64_t k = w.dims()[0], n = w.dims()[1], m = Rows(x);
  std::vector<int64_t> shape = x.shape();
  shape.back() = n;
  auto out = paddle::empty(shape, paddle::DataType::FLOAT32, x.place());
  float* op = out.data<float>();
  Gemm(false, false, m, n, k, x.data<float>(), w.data<float>(), op, threads, gemm);
  const float* bp = b.data<float>();
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t r = 0; r < m; ++r) {
    float* row = op + r * n;
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) row[j] += bp[j];
  }
  return {out};
}

std::vector<paddle::Tensor> LinearBackward(const paddle::Tensor& x, const paddle::Tensor& w, const paddle::Tensor& b,
                                           const paddle::Tensor& grad, int threads, int gemm) {
  CheckLinear(x, w, b);
  CheckFloat(grad, "grad");
  const int64_t k = w.dims()[0], n = w.dims()[1], m = Rows(x);
  PD_CHECK(grad.numel() == m * n && grad.dims()[grad.dims().size() - 1] == n, "grad must be [..., N] like the output");
  auto dx = paddle::empty(x.shape(), paddle::DataType::FLOAT32, x.place());
  auto dw = paddle::empty({k, n}, paddle::DataType::FLOAT32, x.place());
  auto db = paddle::empty({n}, paddle::DataType::FLOAT32, x.place());
  const float* gp = grad.data<float>();
  Gemm(false, true, m, k, n, gp, w.data<float>(), dx.data<float>(), threads, gemm);  // dx = grad @ w^T
  Gemm(true, false, k, n, m, x.data<float>(), gp, dw.data<float>(), threads, gemm);  // dw = x^T @ grad
  // db = column sums of grad: each thread sums its own columns down all rows
  float* dbp = db.data<float>();
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t j = 0; j < n; j += 64) {
    const int64_t end = j + 64 < n ? j + 64 : n;
    float acc[64] = {0.0f};
    for (int64_t r = 0; r < m; ++r) {
      const float* row = gp + r * n;
#pragma omp simd
      for (int64_t c = j; c < end; ++c) acc[c - j] += row[c];
    }
    for (int64_t c = j; c < end; ++c) dbp[c] = acc[c - j];
  }
  return {dx, dw, db};
}

PD_BUILD_OP(paddle_electra_linear)
    .Inputs({"X", "W", "B"})
    .Outputs({"Out"})
    .Attrs({"threads: int", "gemm: int"})
    .SetKernelFn(PD_KERNEL(LinearForward));

PD_BUILD_GRAD_OP(paddle_electra_linear)
    .Inputs({"X", "W", "B", paddle::Grad("Out")})
    .Outputs({paddle::Grad("X"), paddle::Grad("W"), paddle::Grad("B")})
    .Attrs({"threads: int", "gemm: int"})
    .SetKernelFn(PD_KERNEL(LinearBackward));

// Dropout, "upscale in train": out = x * keep * scale, keep = 1 where 16 random
// bits are >= threshold (so the drop rate is threshold / 65536). The bits are
// SplitMix64's output function of (mixed seed, element index / 4):
// counter-based, so the mask depends on the seed and the size only, not on the
// thread count (ops_common.h). The mask is kept (one byte per element) for the
// gradient.

std::vector<paddle::Tensor> DropoutForward(const paddle::Tensor& x, int64_t seed, int threshold, float scale,
                                           int threads) {
  CheckFloat(x, "x");
  PD_CHECK(threshold >= 0 && threshold <= 65535, "dropout threshold must lie in [0, 65535]");
  auto out = paddle::empty_like(x);
  auto mask = paddle::empty(x.shape(), paddle::DataType::UINT8, paddle::CPUPlace());
  const float* xp = x.data<float>();
  float* op = out.data<float>();
  uint8_t* mp = mask.data<uint8_t>();
  const int64_t n = x.numel();
  const uint64_t base = pe_ops::DropoutBase(seed);
  const uint16_t limit = static_cast<uint16_t>(threshold);
  // Blocks of kBlock elements: hash kBlock / 4 counters into 64-bit words, then read them as
  // 16-bit draws (little-endian: draw i of word g is bits 16 * (i % 4) and up of hash g), two
  // loops the compiler vectorises.
  constexpr int64_t kBlock = 1024;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    uint64_t words[kBlock / 4];
    const uint64_t first = static_cast<uint64_t>(blk) * (kBlock / 4);
#pragma omp simd
    for (int64_t g = 0; g < kBlock / 4; ++g) words[g] = pe_ops::DropoutWord(base, first + g);
    uint16_t draws[kBlock];
    std::memcpy(draws, words, sizeof(draws));
    const int64_t start = blk * kBlock;
    const int64_t count = start + kBlock < n ? kBlock : n - start;
    const float* xb = xp + start;
    float* ob = op + start;
    uint8_t* mb = mp + start;
#pragma omp simd
    for (int64_t i = 0; i < count; ++i) {
      const bool keep = draws[i] >= limit;
      mb[i] = keep ? 1 : 0;
      ob[i] = keep ? xb[i] * scale : 0.0f;
    }
  }
  return {out, mask};
}

std::vector<paddle::Tensor> DropoutBackward(const paddle::Tensor& mask, const paddle::Tensor& grad, int64_t seed,
                                            int threshold, float scale, int threads) {
  CheckFloat(grad, "grad");
  PD_CHECK(mask.numel() == grad.numel(), "dropout mask and gradient differ in size");
  auto dx = paddle::empty_like(grad);
  const uint8_t* mp = mask.data<uint8_t>();
  const float* gp = grad.data<float>();
  float* dp = dx.data<float>();
  const int64_t n = grad.numel();
#pragma omp parallel for simd num_threads(threads) schedule(static)
  for (int64_t i = 0; i < n; ++i) dp[i] = mp[i] ? gp[i] * scale : 0.0f;
  return {dx};
}

std::vector<std::vector<int64_t>> DropoutInferShape(const std::vector<int64_t>& x) { return {x, x}; }

std::vector<paddle::DataType> DropoutInferDtype(const paddle::DataType& x) {
  return {x, paddle::DataType::UINT8};
}

PD_BUILD_OP(paddle_electra_dropout)
    .Inputs({"X"})
    .Outputs({"Out", "Mask"})
    .Attrs({"seed: int64_t", "threshold: int", "scale: float", "threads: int"})
    .SetKernelFn(PD_KERNEL(DropoutForward))
    .SetInferShapeFn(PD_INFER_SHAPE(DropoutInferShape))
    .SetInferDtypeFn(PD_INFER_DTYPE(DropoutInferDtype));

PD_BUILD_GRAD_OP(paddle_electra_dropout)
    .Inputs({"Mask", paddle::Grad("Out")})
    .Outputs({paddle::Grad("X")})
    .Attrs({"seed: int64_t", "threshold: int", "scale: float", "threads: int"})
    .SetKernelFn(PD_KERNEL(DropoutBackward));
