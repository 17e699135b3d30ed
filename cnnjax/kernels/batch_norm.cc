// Training-mode batch normalization with an optional residual add and a ReLU, as XLA FFI handlers:
// the four passes over memory that relu(BN(x) [+ r]) and its gradient need, each on every core.
//
// Why: XLA's CPU fusions run each of these memory-bound passes (statistics, normalize, the masked
// gradient sums, the input gradient) on one thread, which was most of a ResNet training step's time
// outside its convolutions (benchmarks/step_floor.py). Arrays are [rows, C] row-major float32 (NHWC with
// N, H and W flattened); per-channel sums are accumulated in float over blocks of rows and in double
// across blocks, threads add in a fixed order, so results do not depend on timing. No two arrays of a
// call overlap (XLA never aliases a custom call's operands and results), hence __restrict.
// The hot loops are compiled for AVX2 (x86-64-v3) and a baseline, picked when the library loads; never
// AVX-512, so an AVX-512 machine and an AVX2-only one run the same code.

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "flush_denormals.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CNNJAX_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define CNNJAX_CLONES
#endif

constexpr int64_t kBlockRows = 32;                 // rows summed in float before adding into double
constexpr int64_t kMinParallelElements = 1 << 15;  // smaller arrays: one thread (a team costs more)

// Sums of `x` and of `x * x` over rows [begin, end), per channel, into s and q.
CNNJAX_CLONES void SumRows(const float* __restrict x, int64_t begin, int64_t end, int64_t c, double* __restrict s,
                           double* __restrict q) {
  std::vector<float> bs(c), bq(c);
  for (int64_t row = begin; row < end; row += kBlockRows) {
    std::fill(bs.begin(), bs.end(), 0.0f);
    std::fill(bq.begin(), bq.end(), 0.0f);
    for (int64_t r = row; r < std::min(end, row + kBlockRows); ++r) {
      const float* xr = x + r * c;
      for (int64_t j = 0; j < c; ++j) {
        bs[j] += xr[j];
        bq[j] += xr[j] * xr[j];
      }
    }
    for (int64_t j = 0; j < c; ++j) {
      s[j] += bs[j];
      q[j] += bq[j];
    }
  }
}

// z = max((x - mean) * a + bias [+ r], 0) over rows [begin, end); r may be null.
CNNJAX_CLONES void NormalizeRows(const float* __restrict x, const float* __restrict r, const float* __restrict mean,
                                 const float* __restrict a, const float* __restrict bias, float* __restrict z,
                                 int64_t begin, int64_t end, int64_t c) {
  for (int64_t row = begin; row < end; ++row) {
    const float* xr = x + row * c;
    float* zr = z + row * c;
    if (r) {
      const float* rr = r + row * c;
      for (int64_t j = 0; j < c; ++j) zr[j] = std::max((xr[j] - mean[j]) * a[j] + bias[j] + rr[j], 0.0f);
    } else {
      for (int64_t j = 0; j < c; ++j) zr[j] = std::max((xr[j] - mean[j]) * a[j] + bias[j], 0.0f);
    }
  }
}

// With gy = (z > 0 ? g : 0): sums of gy and of gy * (x - mean) over rows [begin, end) into s1 and s2.
CNNJAX_CLONES void GradSumRows(const float* __restrict g, const float* __restrict z, const float* __restrict x,
                               const float* __restrict mean, int64_t begin, int64_t end, int64_t c,
                               double* __restrict s1, double* __restrict s2) {
  std::vector<float> b1(c), b2(c);
  for (int64_t row = begin; row < end; row += kBlockRows) {
    std::fill(b1.begin(), b1.end(), 0.0f);
    std::fill(b2.begin(), b2.end(), 0.0f);
    for (int64_t r = row; r < std::min(end, row + kBlockRows); ++r) {
      const float *gr = g + r * c, *zr = z + r * c, *xr = x + r * c;
      for (int64_t j = 0; j < c; ++j) {
        float gy = zr[j] > 0.0f ? gr[j] : 0.0f;
        b1[j] += gy;
        b2[j] += gy * (xr[j] - mean[j]);
      }
    }
    for (int64_t j = 0; j < c; ++j) {
      s1[j] += b1[j];
      s2[j] += b2[j];
    }
  }
}

// gx = k_gy * gy + k_x * (x - mean) + k_1 with gy = (z > 0 ? g : 0), and gy itself into gy_out unless null.
CNNJAX_CLONES void InputGradRows(const float* __restrict g, const float* __restrict z, const float* __restrict x,
                                 const float* __restrict mean, const float* __restrict k_gy,
                                 const float* __restrict k_x, const float* __restrict k_1, float* __restrict gx,
                                 float* __restrict gy_out, int64_t begin, int64_t end, int64_t c) {
  for (int64_t row = begin; row < end; ++row) {
    const float *gr = g + row * c, *zr = z + row * c, *xr = x + row * c;
    float* gxr = gx + row * c;
    if (gy_out) {
      float* gyr = gy_out + row * c;
      for (int64_t j = 0; j < c; ++j) {
        float gy = zr[j] > 0.0f ? gr[j] : 0.0f;
        gyr[j] = gy;
        gxr[j] = k_gy[j] * gy + k_x[j] * (xr[j] - mean[j]) + k_1[j];
      }
    } else {
      for (int64_t j = 0; j < c; ++j) {
        float gy = zr[j] > 0.0f ? gr[j] : 0.0f;
        gxr[j] = k_gy[j] * gy + k_x[j] * (xr[j] - mean[j]) + k_1[j];
      }
    }
  }
}

struct Rows {
  int64_t m, c;
};

Rows RowsOf(ffi::Span<const int64_t> dims) {
  Rows rows{1, dims.size() == 0 ? 1 : dims.back()};
  for (size_t i = 0; i + 1 < dims.size(); ++i) rows.m *= dims[i];
  return rows;
}

int ThreadsFor(const Rows& rows) { return rows.m * rows.c >= kMinParallelElements ? omp_get_max_threads() : 1; }

// Runs rows_pass(begin, end) over each thread's share of the rows.
template <typename Pass>
void ForRows(const Rows& rows, Pass rows_pass) {
#pragma omp parallel num_threads(ThreadsFor(rows))
  {
    cnnjax::FlushDenormals flush;
    int64_t t = omp_get_thread_num(), n = omp_get_num_threads();
    rows_pass(rows.m * t / n, rows.m * (t + 1) / n);
  }
}

// Two per-channel sums over the rows, sums_pass(begin, end, first, second) adding into double vectors;
// written as float into out[0:c] and out[c:2c]. Threads are added in a fixed order.
template <typename Pass>
void ChannelSums(const Rows& rows, float* out, Pass sums_pass) {
  int threads = ThreadsFor(rows);
  std::vector<double> partial(size_t(threads) * 2 * rows.c, 0.0);
#pragma omp parallel num_threads(threads)
  {
    cnnjax::FlushDenormals flush;
    int64_t t = omp_get_thread_num(), n = omp_get_num_threads();
    double* mine = partial.data() + t * 2 * rows.c;
    sums_pass(rows.m * t / n, rows.m * (t + 1) / n, mine, mine + rows.c);
  }
  for (int64_t j = 0; j < 2 * rows.c; ++j) {
    double total = 0.0;
    for (int t = 0; t < threads; ++t) total += partial[size_t(t) * 2 * rows.c + j];
    out[j] = float(total);
  }
}

using F32 = ffi::Buffer<ffi::F32>;
using F32Out = ffi::ResultBuffer<ffi::F32>;

// x [..., C] -> [2, C]: the sums of x and of x * x over every axis but the last.
ffi::Error Sums(F32 x, F32Out out) {
  Rows rows = RowsOf(x.dimensions());
  const float* xd = x.typed_data();
  ChannelSums(rows, out->typed_data(), [&](int64_t b, int64_t e, double* s, double* q) {
    SumRows(xd, b, e, rows.c, s, q);
  });
  return ffi::Error::Success();
}

// relu((x - mean) * a + bias): x [..., C]; mean, a, bias [C].
ffi::Error NormalizeRelu(F32 x, F32 mean, F32 a, F32 bias, F32Out z) {
  Rows rows = RowsOf(x.dimensions());
  ForRows(rows, [&](int64_t b, int64_t e) {
    NormalizeRows(x.typed_data(), nullptr, mean.typed_data(), a.typed_data(), bias.typed_data(), z->typed_data(),
                  b, e, rows.c);
  });
  return ffi::Error::Success();
}

// relu((x - mean) * a + bias + r): x, r [..., C]; mean, a, bias [C].
ffi::Error NormalizeAddRelu(F32 x, F32 r, F32 mean, F32 a, F32 bias, F32Out z) {
  Rows rows = RowsOf(x.dimensions());
  ForRows(rows, [&](int64_t b, int64_t e) {
    NormalizeRows(x.typed_data(), r.typed_data(), mean.typed_data(), a.typed_data(), bias.typed_data(),
                  z->typed_data(), b, e, rows.c);
  });
  return ffi::Error::Success();
}

// g, z, x [..., C], mean [C] -> [2, C]: sums of gy and of gy * (x - mean), gy = g where z > 0, else 0.
ffi::Error GradSums(F32 g, F32 z, F32 x, F32 mean, F32Out out) {
  Rows rows = RowsOf(x.dimensions());
  ChannelSums(rows, out->typed_data(), [&](int64_t b, int64_t e, double* s1, double* s2) {
    GradSumRows(g.typed_data(), z.typed_data(), x.typed_data(), mean.typed_data(), b, e, rows.c, s1, s2);
  });
  return ffi::Error::Success();
}

// gx = k_gy * gy + k_x * (x - mean) + k_1 (gy as in GradSums); the coefficients are [C].
ffi::Error InputGrad(F32 g, F32 z, F32 x, F32 mean, F32 k_gy, F32 k_x, F32 k_1, F32Out gx) {
  Rows rows = RowsOf(x.dimensions());
  ForRows(rows, [&](int64_t b, int64_t e) {
    InputGradRows(g.typed_data(), z.typed_data(), x.typed_data(), mean.typed_data(), k_gy.typed_data(),
                  k_x.typed_data(), k_1.typed_data(), gx->typed_data(), nullptr, b, e, rows.c);
  });
  return ffi::Error::Success();
}

// InputGrad, and gy too (the residual's gradient).
ffi::Error InputGradResidual(F32 g, F32 z, F32 x, F32 mean, F32 k_gy, F32 k_x, F32 k_1, F32Out gx, F32Out gy) {
  Rows rows = RowsOf(x.dimensions());
  ForRows(rows, [&](int64_t b, int64_t e) {
    InputGradRows(g.typed_data(), z.typed_data(), x.typed_data(), mean.typed_data(), k_gy.typed_data(),
                  k_x.typed_data(), k_1.typed_data(), gx->typed_data(), gy->typed_data(), b, e, rows.c);
  });
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(CnnjaxBatchNormSums, Sums, ffi::Ffi::Bind().Arg<F32>().Ret<F32>());
XLA_FFI_DEFINE_HANDLER_SYMBOL(CnnjaxBatchNormNormalizeRelu, NormalizeRelu,
                              ffi::Ffi::Bind().Arg<F32>().Arg<F32>().Arg<F32>().Arg<F32>().Ret<F32>());
XLA_FFI_DEFINE_HANDLER_SYMBOL(CnnjaxBatchNormNormalizeAddRelu, NormalizeAddRelu,
                              ffi::Ffi::Bind().Arg<F32>().Arg<F32>().Arg<F32>().Arg<F32>().Arg<F32>().Ret<F32>());
XLA_FFI_DEFINE_HANDLER_SYMBOL(CnnjaxBatchNormGradSums, GradSums,
                              ffi::Ffi::Bind().Arg<F32>().Arg<F32>().Arg<F32>().Arg<F32>().Ret<F32>());
XLA_FFI_DEFINE_HANDLER_SYMBOL(CnnjaxBatchNormInputGrad, InputGrad,
                              ffi::Ffi::Bind()
                                  .Arg<F32>().Arg<F32>().Arg<F32>().Arg<F32>().Arg<F32>().Arg<F32>().Arg<F32>()
                                  .Ret<F32>());
XLA_FFI_DEFINE_HANDLER_SYMBOL(CnnjaxBatchNormInputGradResidual, InputGradResidual,
                              ffi::Ffi::Bind()
                                  .Arg<F32>().Arg<F32>().Arg<F32>().Arg<F32>().Arg<F32>().Arg<F32>().Arg<F32>()
                                  .Ret<F32>().Ret<F32>());
