// Max pooling over non-overlapping windows that tile the input (window == stride, no padding) and its
// gradient, as XLA FFI handlers, on every core.
//
// Why: XLA computes this pooling as a reshape then a max, and its gradient as a compare, a count and a
// select over the input, each a pass over memory on one thread; on LeNet-5 those passes were most of
// the step outside its convolutions (benchmarks/step_floor.py). Arrays are NHWC float32. The gradient
// shares each window's cotangent equally among the positions that hold its maximum, as JAX's gradient of
// a max does, so the two computations agree exactly.

#include <omp.h>

#include <algorithm>
#include <cstdint>

#include "flush_denormals.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CNNJAX_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define CNNJAX_CLONES
#endif

constexpr int64_t kMinParallelElements = 1 << 15;  // smaller arrays: one thread (a team costs more)

struct Windows {
  int64_t n, h, w, c;  // input
  int64_t kh, kw;      // window = stride
  int64_t oh() const { return h / kh; }
  int64_t ow() const { return w / kw; }
};

// y[n, i, j, :] = max of x over window (i, j), for the output rows [begin, end) of n * oh.
CNNJAX_CLONES void PoolRows(const float* __restrict x, float* __restrict y, const Windows& s, int64_t begin,
                            int64_t end) {
  const int64_t c = s.c, ow = s.ow();
  for (int64_t row = begin; row < end; ++row) {  // row = n * oh + i
    const float* top = x + row * s.kh * s.w * c;  // input row i * kh of image n
    float* out = y + row * ow * c;
    for (int64_t j = 0; j < ow; ++j) {
      float* o = out + j * c;
      const float* first = top + j * s.kw * c;
      for (int64_t ch = 0; ch < c; ++ch) o[ch] = first[ch];
      for (int64_t a = 0; a < s.kh; ++a) {
        for (int64_t b = 0; b < s.kw; ++b) {
          const float* in = top + (a * s.w + j * s.kw + b) * c;
          for (int64_t ch = 0; ch < c; ++ch) o[ch] = std::max(o[ch], in[ch]);
        }
      }
    }
  }
}

// PoolRows and PoolGradRows for 2x2 windows (LeNet's, VGG's, U-Net's), unrolled so that the channel loop
// vectorises even for a few channels.
CNNJAX_CLONES void PoolRows2x2(const float* __restrict x, float* __restrict y, const Windows& s, int64_t begin,
                               int64_t end) {
  const int64_t c = s.c, ow = s.ow(), down = s.w * c;
  for (int64_t row = begin; row < end; ++row) {
    const float* top = x + row * 2 * down;
    float* out = y + row * ow * c;
    for (int64_t j = 0; j < ow; ++j) {
      const float *a = top + 2 * j * c, *b = a + c, *d = a + down, *e = d + c;
      float* o = out + j * c;
      for (int64_t ch = 0; ch < c; ++ch) o[ch] = std::max(std::max(a[ch], b[ch]), std::max(d[ch], e[ch]));
    }
  }
}

CNNJAX_CLONES void PoolGradRows2x2(const float* __restrict x, const float* __restrict y, const float* __restrict g,
                                   float* __restrict gx, const Windows& s, int64_t begin, int64_t end) {
  const int64_t c = s.c, ow = s.ow(), down = s.w * c;
  for (int64_t row = begin; row < end; ++row) {
    const int64_t offset = row * 2 * down;
    for (int64_t j = 0; j < ow; ++j) {
      const int64_t at = offset + 2 * j * c;
      const float *a = x + at, *b = a + c, *d = a + down, *e = d + c;
      float *ga = gx + at, *gb = ga + c, *gd = ga + down, *ge = gd + c;
      const float* m = y + (row * ow + j) * c;
      const float* gj = g + (row * ow + j) * c;
      for (int64_t ch = 0; ch < c; ++ch) {
        const float ia = a[ch] == m[ch], ib = b[ch] == m[ch], id = d[ch] == m[ch], ie = e[ch] == m[ch];
        const float count = ia + ib + id + ie;
        const float share = count > 0.0f ? gj[ch] / count : 0.0f;
        ga[ch] = ia * share;
        gb[ch] = ib * share;
        gd[ch] = id * share;
        ge[ch] = ie * share;
      }
    }
  }
}

// gx = g / (number of maxima in the window) where x equals its window's maximum y, else 0.
CNNJAX_CLONES void PoolGradRows(const float* __restrict x, const float* __restrict y, const float* __restrict g,
                                float* __restrict gx, const Windows& s, int64_t begin, int64_t end) {
  const int64_t c = s.c, ow = s.ow();
  float share[512];
  for (int64_t row = begin; row < end; ++row) {
    const int64_t offset = row * s.kh * s.w * c;
    const float* top = x + offset;
    float* gtop = gx + offset;
    for (int64_t j = 0; j < ow; ++j) {
      const float* m = y + (row * ow + j) * c;
      const float* gj = g + (row * ow + j) * c;
      for (int64_t c0 = 0; c0 < c; c0 += 512) {
        const int64_t width = std::min<int64_t>(512, c - c0);
        for (int64_t ch = 0; ch < width; ++ch) share[ch] = 0.0f;
        for (int64_t a = 0; a < s.kh; ++a) {
          for (int64_t b = 0; b < s.kw; ++b) {
            const float* in = top + (a * s.w + j * s.kw + b) * c + c0;
            for (int64_t ch = 0; ch < width; ++ch) share[ch] += in[ch] == m[c0 + ch] ? 1.0f : 0.0f;
          }
        }
        for (int64_t ch = 0; ch < width; ++ch) share[ch] = share[ch] > 0.0f ? gj[c0 + ch] / share[ch] : 0.0f;
        for (int64_t a = 0; a < s.kh; ++a) {
          for (int64_t b = 0; b < s.kw; ++b) {
            const int64_t at = (a * s.w + j * s.kw + b) * c + c0;
            for (int64_t ch = 0; ch < width; ++ch) {
              gtop[at + ch] = top[at + ch] == m[c0 + ch] ? share[ch] : 0.0f;
            }
          }
        }
      }
    }
  }
}

Windows WindowsOf(ffi::Span<const int64_t> x, ffi::Span<const int64_t> y) {
  return {x[0], x[1], x[2], x[3], x[1] / y[1], x[2] / y[2]};
}

// Runs rows_pass(begin, end) over each thread's share of the n * oh output rows.
template <typename Pass>
void ForOutputRows(const Windows& s, Pass rows_pass) {
  const int64_t rows = s.n * s.oh();
  const int threads = s.n * s.h * s.w * s.c >= kMinParallelElements ? omp_get_max_threads() : 1;
#pragma omp parallel num_threads(threads)
  {
    cnnjax::FlushDenormals flush;
    int64_t t = omp_get_thread_num(), count = omp_get_num_threads();
    rows_pass(rows * t / count, rows * (t + 1) / count);
  }
}

using F32 = ffi::Buffer<ffi::F32>;
using F32Out = ffi::ResultBuffer<ffi::F32>;

// x [N, H, W, C] -> y [N, H / kh, W / kw, C]; the window is the ratio of the shapes.
ffi::Error Pool(F32 x, F32Out y) {
  Windows s = WindowsOf(x.dimensions(), y->dimensions());
  const bool two_by_two = s.kh == 2 && s.kw == 2;
  ForOutputRows(s, [&](int64_t b, int64_t e) {
    if (two_by_two) {
      PoolRows2x2(x.typed_data(), y->typed_data(), s, b, e);
    } else {
      PoolRows(x.typed_data(), y->typed_data(), s, b, e);
    }
  });
  return ffi::Error::Success();
}

// x, y = Pool(x), g (y's cotangent) -> gx (x's).
ffi::Error PoolGrad(F32 x, F32 y, F32 g, F32Out gx) {
  Windows s = WindowsOf(x.dimensions(), y.dimensions());
  const bool two_by_two = s.kh == 2 && s.kw == 2;
  ForOutputRows(s, [&](int64_t b, int64_t e) {
    if (two_by_two) {
      PoolGradRows2x2(x.typed_data(), y.typed_data(), g.typed_data(), gx->typed_data(), s, b, e);
    } else {
      PoolGradRows(x.typed_data(), y.typed_data(), g.typed_data(), gx->typed_data(), s, b, e);
    }
  });
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(CnnjaxMaxPool, Pool, ffi::Ffi::Bind().Arg<F32>().Ret<F32>());
XLA_FFI_DEFINE_HANDLER_SYMBOL(CnnjaxMaxPoolGrad, PoolGrad,
                              ffi::Ffi::Bind().Arg<F32>().Arg<F32>().Arg<F32>().Ret<F32>());
