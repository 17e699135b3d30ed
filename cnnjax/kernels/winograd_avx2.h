// Winograd F(4x4, 3x3) convolutions in AVX2 + FMA: forward, input gradient and filter gradient of a 3x3
// stride-1 convolution with padding 1, NHWC activations and an HWIO kernel, channels a multiple of 16.
//
// Why: oneDNN's direct convolutions run near the FMA peak, so only fewer multiplications make these
// convolutions faster (a quarter: 36 per 4x4 output tile and channel pair against 144). oneDNN's own Winograd
// needs AVX-512 (oneDNN 2.x; 3.x has none in float32), and there it was slower than this kernel on ResNet-20's
// shapes and VGG's first layers, faster on VGG's 4x4 maps of 128-256 channels (benchmarks/conv_algorithms.py's
// JSON at commit 39e976d against later ones); this one runs alike on AVX-512 and AVX2-only CPUs.
// Lavin & Gray (2016), "Fast Algorithms for Convolutional Neural Networks", with the points 0, +-1, +-2.
//
// Each call works through blocks of kTiles tiles (one thread per block, OpenMP): the block's input tiles are
// transformed into V[tiles][36][C], multiplied with the transformed kernel U[36][C][K] (36 small matrix
// products, a 6x16 register kernel), and transformed back into the output, so the intermediates stay in the
// core's cache. The filter gradient sums V^T Z (Z: the transformed output-gradient tiles) per thread, then
// over threads, or over all tiles at once where the channels are many and the tiles few. The caller
// (onednn_conv.cc) holds the buffer and the lock.
#pragma once

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "flush_denormals.h"

namespace cnnjax_winograd {

constexpr int kM = 4;            // output tile
constexpr int kA = kM + 2;       // input tile (3x3 kernel)
constexpr int kA2 = kA * kA;     // transformed elements per tile
constexpr int64_t kTiles = 64;   // tiles per block
constexpr int kLanes = 8;        // floats per AVX2 register
constexpr int kPanel = 16;       // output channels per register-kernel column panel (two registers)
constexpr int kRows = 6;         // rows per register kernel: 6 x 2 accumulators + 2 loads + 1 broadcast

constexpr float kG[kA][3] = {{1.f / 4, 0, 0},
                             {-1.f / 6, -1.f / 6, -1.f / 6},
                             {-1.f / 6, 1.f / 6, -1.f / 6},
                             {1.f / 24, 1.f / 12, 1.f / 6},
                             {1.f / 24, -1.f / 12, 1.f / 6},
                             {0, 0, 1}};
// B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1] and
// A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1], applied by InputRows and OutputRows.

// A convolution's sizes: input [n, h, w, c], output [n, h, w, k] (stride 1, padding 1 keep the size).
struct Shape {
  int64_t n, h, w, c, k;
  int64_t tiles_y() const { return (h + kM - 1) / kM; }
  int64_t tiles_x() const { return (w + kM - 1) / kM; }
  int64_t tiles() const { return n * tiles_y() * tiles_x(); }
  int64_t blocks() const { return (tiles() + kTiles - 1) / kTiles; }
};

inline bool CpuSupported() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }

inline bool ShapeSupported(int64_t c, int64_t k) { return c % kPanel == 0 && k % kPanel == 0; }

// Floats of scratch a forward or input gradient needs: the transformed kernel, a turned kernel (input
// gradient), and per thread a block of V and of the products.
inline int64_t ScratchFloats(const Shape& s, int threads) {
  return kA2 * s.c * s.k + 9 * s.c * s.k + threads * kA2 * kTiles * (s.c + s.k);
}

// Whether the filter gradient transforms every tile first and then forms each of the 36 x k/16 sums over all
// tiles at once (threads sharing the sums), rather than summing block by block into per-thread sums: with many
// channels on few tiles (VGG's 4x4 maps) the per-thread sums would move more memory than all the tiles.
inline bool FilterGradAllTiles(const Shape& s, int threads) {
  const int64_t blocks_per_thread = (s.blocks() + threads - 1) / threads;
  return s.tiles() * (s.c + s.k) < s.c * s.k * (1 + blocks_per_thread);
}

// Floats of scratch the filter gradient needs: every tile's V and Z and one sum, or per thread a block of V and
// Z and a sum.
inline int64_t FilterGradScratchFloats(const Shape& s, int threads) {
  if (FilterGradAllTiles(s, threads)) return s.tiles() * kA2 * (s.c + s.k) + kA2 * s.c * s.k;
  return threads * (kA2 * kTiles * (s.c + s.k) + kA2 * s.c * s.k);
}

// Tile `t`'s image and its top-left output position.
struct Tile {
  int64_t n, y, x;
};
inline Tile TileAt(const Shape& s, int64_t t) {
  int64_t per_image = s.tiles_y() * s.tiles_x(), p = t % per_image;
  return {t / per_image, (p / s.tiles_x()) * kM, (p % s.tiles_x()) * kM};
}

// The 1-D transforms with their common terms shared (14 operations for B^T d instead of 22, 10 for A^T m
// instead of 18): out = B^T in (6 -> 6), out = A^T in (6 -> 4), out = A in (4 -> 6).
__attribute__((target("avx2,fma"))) inline void InputRows(const __m256 d[kA], __m256 t[kA]) {
  const __m256 four = _mm256_set1_ps(4), minus_five = _mm256_set1_ps(-5), two = _mm256_set1_ps(2);
  t[0] = _mm256_fmadd_ps(four, d[0], _mm256_fmadd_ps(minus_five, d[2], d[4]));
  t[5] = _mm256_fmadd_ps(four, d[1], _mm256_fmadd_ps(minus_five, d[3], d[5]));
  const __m256 a = _mm256_sub_ps(d[4], d[2]), b = _mm256_sub_ps(d[1], d[3]);
  t[3] = _mm256_fnmadd_ps(two, b, a);
  t[4] = _mm256_fmadd_ps(two, b, a);
  t[1] = _mm256_fnmadd_ps(four, _mm256_add_ps(d[1], d[2]), _mm256_add_ps(d[3], d[4]));
  t[2] = _mm256_fmadd_ps(four, _mm256_sub_ps(d[1], d[2]), _mm256_sub_ps(d[4], d[3]));
}

__attribute__((target("avx2,fma"))) inline void OutputRows(const __m256 m[kA], __m256 o[kM]) {
  const __m256 p = _mm256_add_ps(m[1], m[2]), q = _mm256_sub_ps(m[1], m[2]);
  const __m256 r = _mm256_add_ps(m[3], m[4]), s = _mm256_sub_ps(m[3], m[4]);
  o[0] = _mm256_add_ps(_mm256_add_ps(m[0], p), r);
  o[1] = _mm256_fmadd_ps(_mm256_set1_ps(2), s, q);
  o[2] = _mm256_fmadd_ps(_mm256_set1_ps(4), r, p);
  o[3] = _mm256_add_ps(_mm256_fmadd_ps(_mm256_set1_ps(8), s, q), m[5]);
}

// A g (4 -> 6), A = (A^T)^T: the output gradient's transform.
__attribute__((target("avx2,fma"))) inline void OutputGradRows(const __m256 g[kM], __m256 z[kA]) {
  const __m256 p = _mm256_add_ps(g[0], g[2]), q = _mm256_add_ps(g[1], g[3]);
  const __m256 r = _mm256_fmadd_ps(_mm256_set1_ps(4), g[2], g[0]), s = _mm256_fmadd_ps(_mm256_set1_ps(4), g[3], g[1]);
  z[0] = g[0];
  z[1] = _mm256_add_ps(p, q);
  z[2] = _mm256_sub_ps(p, q);
  z[3] = _mm256_fmadd_ps(_mm256_set1_ps(2), s, r);
  z[4] = _mm256_fnmadd_ps(_mm256_set1_ps(2), s, r);
  z[5] = g[3];
}

// V[i][j] = (B^T d B)[i][j] for the 6x6 input window at (tile.y - 1, tile.x - 1) (zeros outside), eight
// channels from `c0`; element ij goes to v[ij * stride].
__attribute__((target("avx2,fma"))) inline void InputTransform(const float* x, const Shape& s, Tile tile,
                                                               int64_t channels, int64_t c0, float* v,
                                                               int64_t stride) {
  __m256 column[kA][kA], t[kA][kA], row[kA];  // column[j][i] = d[i][j]; t[j][i] = (B^T d)[i][j]
  for (int i = 0; i < kA; ++i) {
    const int64_t y = tile.y - 1 + i;
    for (int j = 0; j < kA; ++j) {
      const int64_t x_ = tile.x - 1 + j;
      const bool inside = y >= 0 && y < s.h && x_ >= 0 && x_ < s.w;
      column[j][i] = inside ? _mm256_loadu_ps(x + ((tile.n * s.h + y) * s.w + x_) * channels + c0)
                            : _mm256_setzero_ps();
    }
  }
  for (int j = 0; j < kA; ++j) InputRows(column[j], t[j]);
  for (int i = 0; i < kA; ++i) {
    __m256 in[kA], out[kA];
    for (int j = 0; j < kA; ++j) in[j] = t[j][i];
    InputRows(in, out);
    for (int j = 0; j < kA; ++j) _mm256_storeu_ps(v + (i * kA + j) * stride, out[j]);
  }
}

// The 4x4 output tile (A^T m A, plus `bias` if given) of eight channels from `k0`, m[ij] at m[ij * stride],
// written where it lies inside the output.
__attribute__((target("avx2,fma"))) inline void OutputTransform(const float* m, int64_t stride, const Shape& s,
                                                                Tile tile, int64_t channels, int64_t k0,
                                                                const float* bias, float* y) {
  __m256 column[kA][kA], t[kA][kM];  // column[j][i] = m[i][j]; t[j][i] = (A^T m)[i][j]
  for (int i = 0; i < kA; ++i)
    for (int j = 0; j < kA; ++j) column[j][i] = _mm256_loadu_ps(m + (i * kA + j) * stride);
  for (int j = 0; j < kA; ++j) OutputRows(column[j], t[j]);
  const __m256 b = bias ? _mm256_loadu_ps(bias + k0) : _mm256_setzero_ps();
  for (int i = 0; i < kM && tile.y + i < s.h; ++i) {
    __m256 in[kA], out[kM];
    for (int j = 0; j < kA; ++j) in[j] = t[j][i];
    OutputRows(in, out);
    for (int j = 0; j < kM && tile.x + j < s.w; ++j)
      _mm256_storeu_ps(y + ((tile.n * s.h + tile.y + i) * s.w + tile.x + j) * channels + k0, _mm256_add_ps(out[j], b));
  }
}

// Z = A dy A^T for the 4x4 output-gradient tile (zeros outside the output), eight channels from `k0`;
// element ij goes to z[ij * stride].
__attribute__((target("avx2,fma"))) inline void OutputGradTransform(const float* dy, const Shape& s, Tile tile,
                                                                    int64_t k0, float* z, int64_t stride) {
  __m256 column[kM][kM], t[kM][kA];  // column[j][i] = dy[i][j]; t[j][i] = (A dy)[i][j]
  for (int i = 0; i < kM; ++i) {
    const int64_t y = tile.y + i;
    for (int j = 0; j < kM; ++j) {
      const int64_t x_ = tile.x + j;
      column[j][i] = y < s.h && x_ < s.w ? _mm256_loadu_ps(dy + ((tile.n * s.h + y) * s.w + x_) * s.k + k0)
                                         : _mm256_setzero_ps();
    }
  }
  for (int j = 0; j < kM; ++j) OutputGradRows(column[j], t[j]);
  for (int i = 0; i < kA; ++i) {
    __m256 in[kM], out[kA];
    for (int j = 0; j < kM; ++j) in[j] = t[j][i];
    OutputGradRows(in, out);
    for (int j = 0; j < kA; ++j) _mm256_storeu_ps(z + (i * kA + j) * stride, out[j]);
  }
}

// u = G g G^T of an HWIO kernel [3, 3, c, k], packed as [36][k / 16][c][16] for the register kernel.
__attribute__((target("avx2,fma"))) inline void KernelTransform(const float* kernel, int64_t c, int64_t k,
                                                                float* u) {
  for (int64_t ci = 0; ci < c; ++ci) {
    for (int64_t k0 = 0; k0 < k; k0 += kLanes) {
      __m256 g[3][3], t[kA][3];
      for (int a = 0; a < 3; ++a)
        for (int b = 0; b < 3; ++b) g[a][b] = _mm256_loadu_ps(kernel + ((a * 3 + b) * c + ci) * k + k0);
      for (int i = 0; i < kA; ++i) {
        for (int b = 0; b < 3; ++b) {
          __m256 acc = _mm256_setzero_ps();
          for (int a = 0; a < 3; ++a) acc = _mm256_fmadd_ps(_mm256_set1_ps(kG[i][a]), g[a][b], acc);
          t[i][b] = acc;
        }
      }
      for (int i = 0; i < kA; ++i) {
        for (int j = 0; j < kA; ++j) {
          __m256 acc = _mm256_setzero_ps();
          for (int b = 0; b < 3; ++b) acc = _mm256_fmadd_ps(_mm256_set1_ps(kG[j][b]), t[i][b], acc);
          _mm256_storeu_ps(u + (((i * kA + j) * (k / kPanel) + k0 / kPanel) * c + ci) * kPanel + k0 % kPanel, acc);
        }
      }
    }
  }
}

// out[r][0:16] = sum over q < depth of a(r, q) * b[q * b_row + 0:16] for the R rows, added to out with kAdd.
// a(r, q) is a[r * stride + q] for the forward's products (rows: tiles, depth: input channels) and, with
// kRowsAdjacent, a[r + q * stride] for the filter gradient's (rows: input channels, depth: tiles). Not inlined:
// alone it keeps its 12 accumulators, 2 loads and a broadcast in the 16 registers.
template <int R, bool kRowsAdjacent, bool kAdd>
__attribute__((target("avx2,fma"), noinline)) void RegisterKernel(const float* a, int64_t stride, const float* b,
                                                                  int64_t b_row, int64_t depth, float* out,
                                                                  int64_t out_row) {
  __m256 acc[R][2];  // every index a constant once the loops are unrolled, so the array lives in registers
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  for (int64_t q = 0; q < depth; ++q) {
    const __m256 b0 = _mm256_loadu_ps(b + q * b_row), b1 = _mm256_loadu_ps(b + q * b_row + kLanes);
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      const __m256 broadcast = _mm256_broadcast_ss(kRowsAdjacent ? a + r + q * stride : a + r * stride + q);
      acc[r][0] = _mm256_fmadd_ps(broadcast, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(broadcast, b1, acc[r][1]);
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
    float* o = out + r * out_row;
    if (kAdd) {
      acc[r][0] = _mm256_add_ps(acc[r][0], _mm256_loadu_ps(o));
      acc[r][1] = _mm256_add_ps(acc[r][1], _mm256_loadu_ps(o + kLanes));
    }
    _mm256_storeu_ps(o, acc[r][0]);
    _mm256_storeu_ps(o + kLanes, acc[r][1]);
  }
}

// RegisterKernel over `rows` rows, kRows at a time.
template <bool kRowsAdjacent, bool kAdd>
inline void Rows(int64_t rows, const float* a, int64_t stride, const float* b, int64_t b_row, int64_t depth,
                 float* out, int64_t out_row) {
  const int64_t row_step = kRowsAdjacent ? 1 : stride;
  int64_t r = 0;
  for (; r + kRows <= rows; r += kRows)
    RegisterKernel<kRows, kRowsAdjacent, kAdd>(a + r * row_step, stride, b, b_row, depth, out + r * out_row, out_row);
  const float* a_rest = a + r * row_step;
  float* out_rest = out + r * out_row;
  switch (rows - r) {
    case 5: RegisterKernel<5, kRowsAdjacent, kAdd>(a_rest, stride, b, b_row, depth, out_rest, out_row); break;
    case 4: RegisterKernel<4, kRowsAdjacent, kAdd>(a_rest, stride, b, b_row, depth, out_rest, out_row); break;
    case 3: RegisterKernel<3, kRowsAdjacent, kAdd>(a_rest, stride, b, b_row, depth, out_rest, out_row); break;
    case 2: RegisterKernel<2, kRowsAdjacent, kAdd>(a_rest, stride, b, b_row, depth, out_rest, out_row); break;
    case 1: RegisterKernel<1, kRowsAdjacent, kAdd>(a_rest, stride, b, b_row, depth, out_rest, out_row); break;
    default: break;
  }
}

// y = x * kernel (+ bias), with u the transformed kernel (KernelTransform) and `scratch` per-thread blocks.
__attribute__((target("avx2,fma"))) inline void ForwardWithTransformed(const float* x, const float* u,
                                                                       const float* bias, float* y, const Shape& s,
                                                                       float* scratch) {
  const int64_t per_thread = kA2 * kTiles * (s.c + s.k), blocks = s.blocks();
#pragma omp parallel
  {
    cnnjax::FlushDenormals flush;
    float* v = scratch + omp_get_thread_num() * per_thread;  // [kTiles][36][c]
    float* m = v + kA2 * kTiles * s.c;                        // [kTiles][36][k]
#pragma omp for schedule(dynamic, 1)
    for (int64_t block = 0; block < blocks; ++block) {
      const int64_t first = block * kTiles, count = std::min(kTiles, s.tiles() - first);
      for (int64_t t = 0; t < count; ++t)
        for (int64_t c0 = 0; c0 < s.c; c0 += kLanes)
          InputTransform(x, s, TileAt(s, first + t), s.c, c0, v + t * kA2 * s.c + c0, s.c);
      for (int e = 0; e < kA2; ++e)
        for (int64_t panel = 0; panel < s.k / kPanel; ++panel)
          Rows<false, false>(count, v + e * s.c, kA2 * s.c, u + (e * (s.k / kPanel) + panel) * s.c * kPanel, kPanel,
                             s.c, m + e * s.k + panel * kPanel, kA2 * s.k);
      for (int64_t t = 0; t < count; ++t)
        for (int64_t k0 = 0; k0 < s.k; k0 += kLanes)
          OutputTransform(m + t * kA2 * s.k + k0, s.k, s, TileAt(s, first + t), s.k, k0, bias, y);
    }
  }
}

// Forward: y [n, h, w, k] = x [n, h, w, c] * kernel [3, 3, c, k] (+ bias [k] if not null).
inline void Forward(const float* x, const float* kernel, const float* bias, float* y, const Shape& s,
                    float* scratch) {
  float* u = scratch;
  KernelTransform(kernel, s.c, s.k, u);
  ForwardWithTransformed(x, u, bias, y, s, u + kA2 * s.c * s.k + 9 * s.c * s.k);
}

// Input gradient: dx [n, h, w, c] of dy [n, h, w, k] through kernel [3, 3, c, k]: the forward convolution of dy
// with the kernel turned by 180 degrees and its channels swapped ([3, 3, k, c]).
inline void InputGrad(const float* dy, const float* kernel, float* dx, const Shape& s, float* scratch) {
  float* u = scratch;
  float* turned = u + kA2 * s.c * s.k;
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b)
      for (int64_t ci = 0; ci < s.c; ++ci)
        for (int64_t ko = 0; ko < s.k; ++ko)
          turned[((a * 3 + b) * s.k + ko) * s.c + ci] = kernel[(((2 - a) * 3 + (2 - b)) * s.c + ci) * s.k + ko];
  KernelTransform(turned, s.k, s.c, u);
  ForwardWithTransformed(dy, u, nullptr, dx, Shape{s.n, s.h, s.w, s.k, s.c}, turned + 9 * s.c * s.k);
}

// The transforms of tile `t` into v (V: [36][c] at v) and z (Z: [36][k] at z).
__attribute__((target("avx2,fma"))) inline void TileTransforms(const float* x, const float* dy, const Shape& s,
                                                               int64_t t, float* v, float* z) {
  const Tile tile = TileAt(s, t);
  for (int64_t c0 = 0; c0 < s.c; c0 += kLanes) InputTransform(x, s, tile, s.c, c0, v + c0, s.c);
  for (int64_t k0 = 0; k0 < s.k; k0 += kLanes) OutputGradTransform(dy, s, tile, k0, z + k0, s.k);
}

// Filter gradient: dkernel [3, 3, c, k] = G^T (sum over tiles of V^T Z) G, from x [n, h, w, c] and
// dy [n, h, w, k]; with `dbias` not null also the bias gradient [k] (dy summed over n, h, w).
__attribute__((target("avx2,fma"))) inline void FilterGrad(const float* x, const float* dy, float* dkernel,
                                                           float* dbias, const Shape& s, float* scratch) {
  const int64_t panels = s.k / kPanel, pairs = s.c * s.k;
  const float* sums;  // `parts` arrays [36][c][k] `part_stride` apart, which add up to sum V^T Z
  int64_t part_stride = 0;
  int parts = 1;
  if (FilterGradAllTiles(s, omp_get_max_threads())) {
    float* v = scratch;                   // [tiles][36][c]
    float* z = v + s.tiles() * kA2 * s.c;  // [tiles][36][k]
    float* du = z + s.tiles() * kA2 * s.k;
#pragma omp parallel
    {
      cnnjax::FlushDenormals flush;
#pragma omp for schedule(static)
      for (int64_t t = 0; t < s.tiles(); ++t) TileTransforms(x, dy, s, t, v + t * kA2 * s.c, z + t * kA2 * s.k);
#pragma omp for schedule(dynamic, 1)
      for (int64_t item = 0; item < kA2 * panels; ++item) {
        const int64_t e = item / panels, panel = item % panels;
        Rows<true, false>(s.c, v + e * s.c, kA2 * s.c, z + e * s.k + panel * kPanel, kA2 * s.k, s.tiles(),
                          du + e * pairs + panel * kPanel, s.k);
      }
    }
    sums = du;
  } else {
    const int64_t per_thread = kA2 * kTiles * (s.c + s.k) + kA2 * pairs, blocks = s.blocks();
#pragma omp parallel
    {
      cnnjax::FlushDenormals flush;
#pragma omp single
      parts = omp_get_num_threads();
      float* v = scratch + omp_get_thread_num() * per_thread;  // [kTiles][36][c]
      float* z = v + kA2 * kTiles * s.c;                        // [kTiles][36][k]
      float* du = z + kA2 * kTiles * s.k;                       // [36][c][k], this thread's sum
      std::memset(du, 0, sizeof(float) * kA2 * pairs);
      // static: each thread sums the same blocks in the same order every call, so the gradient's bits do not
      // depend on timing (a resumed run must equal an uninterrupted one)
#pragma omp for schedule(static)
      for (int64_t block = 0; block < blocks; ++block) {
        const int64_t first = block * kTiles, count = std::min(kTiles, s.tiles() - first);
        for (int64_t t = 0; t < count; ++t) TileTransforms(x, dy, s, first + t, v + t * kA2 * s.c, z + t * kA2 * s.k);
        for (int e = 0; e < kA2; ++e)
          for (int64_t panel = 0; panel < panels; ++panel)
            Rows<true, true>(s.c, v + e * s.c, kA2 * s.c, z + e * s.k + panel * kPanel, kA2 * s.k, count,
                             du + e * pairs + panel * kPanel, s.k);
      }
    }
    sums = scratch + kA2 * kTiles * (s.c + s.k);
    part_stride = per_thread;
  }
  // dkernel[a][b][q] = sum over i, j of G[i][a] G[j][b] du[ij][q], du summed over the parts; q = (ci, ko).
#pragma omp parallel
  {
    cnnjax::FlushDenormals flush;
#pragma omp for
    for (int64_t q = 0; q < pairs; q += kLanes) {
      __m256 d[kA][kA], t[kA][3];
      for (int e = 0; e < kA2; ++e) {
        __m256 sum = _mm256_setzero_ps();
        for (int part = 0; part < parts; ++part)
          sum = _mm256_add_ps(sum, _mm256_loadu_ps(sums + part * part_stride + e * pairs + q));
        d[e / kA][e % kA] = sum;
      }
      for (int i = 0; i < kA; ++i)
        for (int b = 0; b < 3; ++b) {
          __m256 acc = _mm256_setzero_ps();
          for (int j = 0; j < kA; ++j)
            if (kG[j][b] != 0) acc = _mm256_fmadd_ps(_mm256_set1_ps(kG[j][b]), d[i][j], acc);
          t[i][b] = acc;
        }
      for (int a = 0; a < 3; ++a)
        for (int b = 0; b < 3; ++b) {
          __m256 acc = _mm256_setzero_ps();
          for (int i = 0; i < kA; ++i)
            if (kG[i][a] != 0) acc = _mm256_fmadd_ps(_mm256_set1_ps(kG[i][a]), t[i][b], acc);
          _mm256_storeu_ps(dkernel + (a * 3 + b) * pairs + q, acc);
        }
    }
  }

  if (dbias) {
    for (int64_t ko = 0; ko < s.k; ++ko) dbias[ko] = 0;
    for (int64_t p = 0; p < s.n * s.h * s.w; ++p)
      for (int64_t ko = 0; ko < s.k; ++ko) dbias[ko] += dy[p * s.k + ko];
  }
}

}  // namespace cnnjax_winograd
