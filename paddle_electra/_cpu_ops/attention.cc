// Attention core for CPU training: context = dropout(softmax(q k^T + bias)) v for every
// (batch, head) pair, from q, k, v in token order [B, L, H] (q already scaled by 1/sqrt(d))
// to the context in token order [B, L, H].
//
// Paddle's path splits q, k and v into [B, heads, L, d] copies, runs a batched matmul, a
// bias add, a softmax, a dropout and a second batched matmul, and copies the context back
// to token order; its backward does the same in reverse, each step a pass over memory and
// an op dispatch. Here one OpenMP task per pair reads the pair's [L, d] slices in place
// (leading dimension H) with single-threaded MKL GEMMs and does the bias, softmax and
// dropout on its [L, L] scores while they are in cache. The softmax is the one of
// ops.cc, and the dropout mask is the one the dropout kernel draws for a [B, heads, L, L]
// tensor with the same seed (ops_common.h), so the result equals the unfused path's.
#include "ops_common.h"

using pe_ops::CheckFloat;

namespace {

struct Shape {
  int64_t batch, seq, hidden, heads, head_dim;
  int64_t bias_batch, bias_heads, bias_rows;  // 1 (broadcast) or batch / heads / seq
};

Shape CheckAttention(const paddle::Tensor& q, const paddle::Tensor& k, const paddle::Tensor& v,
                     const paddle::Tensor& bias, int heads) {
  CheckFloat(q, "q");
  CheckFloat(k, "k");
  CheckFloat(v, "v");
  CheckFloat(bias, "bias");
  PD_CHECK(q.dims().size() == 3 && q.shape() == k.shape() && q.shape() == v.shape(),
           "q, k and v must all be [batch, seq, hidden]");
  Shape s{q.dims()[0], q.dims()[1], q.dims()[2], heads, 0, 0, 0, 0};
  PD_CHECK(heads > 0 && s.hidden % heads == 0, "hidden must be a multiple of heads");
  s.head_dim = s.hidden / heads;
  PD_CHECK(bias.dims().size() == 4 && bias.dims()[3] == s.seq, "bias must be [batch|1, heads|1, seq|1, seq]");
  s.bias_batch = bias.dims()[0];
  s.bias_heads = bias.dims()[1];
  s.bias_rows = bias.dims()[2];
  PD_CHECK((s.bias_batch == 1 || s.bias_batch == s.batch) && (s.bias_heads == 1 || s.bias_heads == heads) &&
               (s.bias_rows == 1 || s.bias_rows == s.seq),
           "bias must be [batch|1, heads|1, seq|1, seq]");
  constexpr int64_t kIntMax = 2147483647;  // MKL's LP64 interface takes 32-bit sizes
  PD_CHECK(s.seq * s.seq <= kIntMax && s.hidden <= kIntMax, "attention sizes exceed MKL's 32-bit sizes");
  return s;
}

const pe_ops::Blas& Mkl() {
  const pe_ops::Blas& d = pe_ops::GetBlas();
  PD_CHECK(d.mkl_sgemm != nullptr && d.mkl_set_local_threads != nullptr,
           "MKL's cblas_sgemm is not loaded in this process");
  return d;
}

// c[m, n] = op(a) @ op(b) on this thread (row-major, leading dimensions given).
void PairGemm(const pe_ops::Blas& d, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a,
              int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc) {
  d.mkl_sgemm(pe_ops::kCblasRowMajor, ta ? pe_ops::kCblasTrans : pe_ops::kCblasNoTrans,
              tb ? pe_ops::kCblasTrans : pe_ops::kCblasNoTrans, static_cast<int>(m), static_cast<int>(n),
              static_cast<int>(k), 1.0f, a, static_cast<int>(lda), b, static_cast<int>(ldb), 0.0f, c,
              static_cast<int>(ldc));
}

const float* BiasRow(const float* bias, const Shape& s, int64_t b, int64_t h, int64_t i) {
  const int64_t bb = s.bias_batch == 1 ? 0 : b, bh = s.bias_heads == 1 ? 0 : h, br = s.bias_rows == 1 ? 0 : i;
  return bias + ((bb * s.bias_heads + bh) * s.bias_rows + br) * s.seq;
}

}  // namespace

std::vector<paddle::Tensor> AttentionForward(const paddle::Tensor& q, const paddle::Tensor& k,
                                             const paddle::Tensor& v, const paddle::Tensor& bias, int heads,
                                             int64_t seed, int threshold, float scale, int threads) {
  const Shape s = CheckAttention(q, k, v, bias, heads);
  PD_CHECK(threshold >= 0 && threshold <= 65535, "dropout threshold must lie in [0, 65535]");
  const pe_ops::Blas& d = Mkl();
  const int64_t L = s.seq, H = s.hidden, D = s.head_dim, pairs = s.batch * s.heads;
  auto out = paddle::empty({s.batch, L, H}, paddle::DataType::FLOAT32, paddle::CPUPlace());
  auto probs = paddle::empty({s.batch, s.heads, L, L}, paddle::DataType::FLOAT32, paddle::CPUPlace());
  std::vector<int64_t> mask_shape = {s.batch, s.heads, L, L};
  if (threshold == 0) mask_shape = {1};  // nothing dropped: no mask to keep
  auto mask = paddle::empty(mask_shape, paddle::DataType::UINT8, paddle::CPUPlace());
  const float *qp = q.data<float>(), *kp = k.data<float>(), *vp = v.data<float>(), *bp = bias.data<float>();
  float* op = out.data<float>();
  float* pp = probs.data<float>();
  uint8_t* mp = mask.data<uint8_t>();
  const uint64_t base = pe_ops::DropoutBase(seed);
  const uint32_t limit = static_cast<uint32_t>(threshold);
#pragma omp parallel num_threads(threads)
  {
    const int previous = d.mkl_set_local_threads(1);  // one GEMM per pair on each thread
    std::vector<float> dropped(threshold > 0 ? L * L : 0);
#pragma omp for schedule(static)
    for (int64_t pair = 0; pair < pairs; ++pair) {
      const int64_t b = pair / s.heads, h = pair % s.heads;
      const int64_t slice = b * L * H + h * D;
      float* scores = pp + pair * L * L;
      PairGemm(d, false, true, L, L, D, qp + slice, H, kp + slice, H, scores, L);  // q k^T
      for (int64_t i = 0; i < L; ++i) {  // + bias, softmax (ops.cc's)
        float* row = scores + i * L;
        const float* brow = BiasRow(bp, s, b, h, i);
#pragma omp simd
        for (int64_t j = 0; j < L; ++j) row[j] += brow[j];
        pe_ops::SoftmaxRow(row, row, L);
      }
      const float* weights = scores;
      if (threshold > 0) {  // the dropout kernel's mask of the [B, heads, L, L] probabilities
        uint8_t* keep = mp + pair * L * L;
        const uint64_t first = static_cast<uint64_t>(pair * L * L);
#pragma omp simd
        for (int64_t j = 0; j < L * L; ++j) {
          const bool kept = pe_ops::DropoutDraw(base, first + j) >= limit;
          keep[j] = kept ? 1 : 0;
          dropped[j] = kept ? scores[j] * scale : 0.0f;
        }
        weights = dropped.data();
      }
      PairGemm(d, false, false, L, D, L, weights, L, vp + slice, H, op + slice, H);  // weights v
    }
    d.mkl_set_local_threads(previous);
  }
  return {out, probs, mask};
}

std::vector<paddle::Tensor> AttentionBackward(const paddle::Tensor& q, const paddle::Tensor& k,
                                              const paddle::Tensor& v, const paddle::Tensor& probs,
                                              const paddle::Tensor& mask, const paddle::Tensor& grad, int heads,
                                              int64_t seed, int threshold, float scale, int threads) {
  CheckFloat(grad, "grad");
  PD_CHECK(grad.shape() == q.shape(), "the gradient must be shaped like q");
  const int64_t batch = q.dims()[0], L = q.dims()[1], H = q.dims()[2], D = H / heads, pairs = batch * heads;
  const pe_ops::Blas& d = Mkl();
  auto dq = paddle::empty(q.shape(), paddle::DataType::FLOAT32, paddle::CPUPlace());
  auto dk = paddle::empty(q.shape(), paddle::DataType::FLOAT32, paddle::CPUPlace());
  auto dv = paddle::empty(q.shape(), paddle::DataType::FLOAT32, paddle::CPUPlace());
  const float *qp = q.data<float>(), *kp = k.data<float>(), *vp = v.data<float>(), *pp = probs.data<float>();
  const float* gp = grad.data<float>();
  const uint8_t* mp = mask.data<uint8_t>();
  float *dqp = dq.data<float>(), *dkp = dk.data<float>(), *dvp = dv.data<float>();
#pragma omp parallel num_threads(threads)
  {
    const int previous = d.mkl_set_local_threads(1);
    std::vector<float> dropped(threshold > 0 ? L * L : 0), ds(L * L);
#pragma omp for schedule(static)
    for (int64_t pair = 0; pair < pairs; ++pair) {
      const int64_t b = pair / heads, h = pair % heads;
      const int64_t slice = b * L * H + h * D;
      const float* p = pp + pair * L * L;
      const uint8_t* keep = threshold > 0 ? mp + pair * L * L : nullptr;
      const float* weights = p;
      if (keep != nullptr) {
#pragma omp simd
        for (int64_t j = 0; j < L * L; ++j) dropped[j] = keep[j] ? p[j] * scale : 0.0f;
        weights = dropped.data();
      }
      PairGemm(d, true, false, L, D, L, weights, L, gp + slice, H, dvp + slice, H);  // dv = weights^T g
      PairGemm(d, false, true, L, L, D, gp + slice, H, vp + slice, H, ds.data(), L);  // d weights = g v^T
      for (int64_t i = 0; i < L; ++i) {  // through the dropout, then the softmax
        float* row = ds.data() + i * L;
        const float* prow = p + i * L;
        if (keep != nullptr) {
          const uint8_t* krow = keep + i * L;
#pragma omp simd
          for (int64_t j = 0; j < L; ++j) row[j] = krow[j] ? row[j] * scale : 0.0f;
        }
        pe_ops::SoftmaxGradRow(prow, row, row, L);
      }
      PairGemm(d, false, false, L, D, L, ds.data(), L, kp + slice, H, dqp + slice, H);  // dq = ds k
      PairGemm(d, true, false, L, D, L, ds.data(), L, qp + slice, H, dkp + slice, H);   // dk = ds^T q
    }
    d.mkl_set_local_threads(previous);
  }
  return {dq, dk, dv};
}

PD_BUILD_OP(paddle_electra_attention)
    .Inputs({"Q", "K", "V", "Bias"})
    .Outputs({"Out", "Probs", "Mask"})
    .Attrs({"heads: int", "seed: int64_t", "threshold: int", "scale: float", "threads: int"})
    .SetKernelFn(PD_KERNEL(AttentionForward));

PD_BUILD_GRAD_OP(paddle_electra_attention)
    .Inputs({"Q", "K", "V", "Probs", "Mask", paddle::Grad("Out")})
    .Outputs({paddle::Grad("Q"), paddle::Grad("K"), paddle::Grad("V")})
    .Attrs({"heads: int", "seed: int64_t", "threshold: int", "scale: float", "threads: int"})
    .SetKernelFn(PD_KERNEL(AttentionBackward));
