// 2-D convolution forward, input gradient and filter gradient through oneDNN, as XLA FFI handlers; the
// forward can add a bias and the filter gradient then returns the bias gradient too.
// The `winograd` attribute: 0 oneDNN's direct convolution; 1 cnnjax's Winograd F(4x4, 3x3) (winograd_avx2.h:
// a quarter of the multiplications) where it pays, for 3x3 stride-1 convolutions with padding 1 and channels a
// multiple of 16 on maps of at least 4x4; 2 Winograd wherever the kernel takes the shape (for
// benchmarks/conv_algorithms.py, which times both per shape: the thresholds come from it). It needs AVX2 and
// FMA; without them every convolution is direct.
//
// Why: XLA's CPU convolutions (Eigen) compute filter gradients slower than oneDNN, the library
// PyTorch's CPU convolutions use (benchmarks/conv_kernels.py times each part side by side;
// benchmarks/results/conv_kernels.json holds its last run). Layouts are JAX's: activations NHWC,
// kernels HWIO, float32, one group, no dilation. Primitives are built once per shape and cached.

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

#include "oneapi/dnnl/dnnl.hpp"
#include "flush_denormals.h"
#include "winograd_avx2.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;
using dnnl::algorithm;
using dnnl::memory;
using dnnl::prop_kind;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

namespace {

struct Geometry {
  int64_t n, h, w, c;      // input, NHWC
  int64_t kh, kw, o;       // kernel, HWIO (I = c)
  int64_t oh, ow;          // output spatial size
  int64_t sh, sw;          // strides
  int64_t pt, pl, pb, pr;  // padding: top, left, bottom, right
  bool bias = false;       // forward: adds a bias [O]; filter gradient: also returns the bias gradient
  int64_t winograd = 0;    // the handler's `winograd` attribute: 0 direct, 1 where it pays, 2 always

  std::string key(char kind) const {
    std::string k(1, kind);
    for (int64_t v : {n, h, w, c, kh, kw, o, oh, ow, sh, sw, pt, pl, pb, pr, int64_t(bias)}) {
      k += "," + std::to_string(v);
    }
    return k;
  }
  memory::desc bias_md() const { return bias ? memory::desc({o}, dt::f32, tag::a) : memory::desc(); }
  // Whether cnnjax's Winograd runs this convolution's `kind` part: asked for, a shape it takes (3x3, stride 1,
  // padding 1, channels a multiple of 16), where it pays unless forced, and a CPU with AVX2 and FMA. It pays
  // from 16 channels up on maps of 4x4 or more (benchmarks/conv_algorithms.py), but a 4x4 map's filter gradient
  // (one tile per image) stays direct: there Winograd's rounding moved a narrow VGG layer's gradient by 12%
  // under the AVX2 caps (tests/perf/test_optimised_step.py), past what a ReLU kink explains.
  bool RunsWinograd(char kind) const {
    const bool takes = kh == 3 && kw == 3 && sh == 1 && sw == 1 && pt == 1 && pl == 1 && pb == 1 && pr == 1 &&
                       cnnjax_winograd::ShapeSupported(c, o);
    const int64_t smallest_map = kind == 'w' ? 8 : 4;
    const bool pays = oh >= smallest_map && ow >= smallest_map;
    return takes && (winograd == 2 || (winograd == 1 && pays)) && cnnjax_winograd::CpuSupported();
  }
  memory::desc src() const { return {{n, c, h, w}, dt::f32, tag::nhwc}; }
  memory::desc dst() const { return {{n, o, oh, ow}, dt::f32, tag::nhwc}; }
  memory::desc wei(tag t = tag::hwio) const { return {{o, c, kh, kw}, dt::f32, t}; }
  memory::dims strides() const { return {sh, sw}; }
  memory::dims pad_l() const { return {pt, pl}; }
  memory::dims pad_r() const { return {pb, pr}; }
};

dnnl::engine& Engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// Scratchpads are ours ("user" mode): XLA calls a handler from whichever of its threads is free, and
// oneDNN's own ("library") scratchpad is shared by all primitives and only safe when each primitive
// stays on the thread that created it. Ours is one buffer (Buffer), used under `one_at_a_time`.
dnnl::primitive_attr UserScratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

// The process's buffers, grown as needed: oneDNN's scratchpad and the Winograd kernel's. One each, not one per
// XLA thread (12 to 18 of them call in a ResNet-20 step): only the convolution holding `one_at_a_time` uses them.
enum Slot { kScratchpad, kWinograd, kSlots };
void* Buffer(Slot slot, size_t bytes) {
  static std::unique_ptr<char[]> buffers[kSlots];
  static size_t capacities[kSlots] = {};
  if (bytes > capacities[slot]) {
    buffers[slot].reset(new char[bytes]);
    capacities[slot] = bytes;
  }
  return buffers[slot].get();
}

dnnl::convolution_forward::primitive_desc ForwardDesc(const Geometry& g) {
#if DNNL_VERSION_MAJOR >= 3
  return {Engine(), prop_kind::forward_training, algorithm::convolution_direct, g.src(), g.wei(tag::any),
          g.bias_md(), g.dst(), g.strides(), g.pad_l(), g.pad_r(), UserScratchpad()};
#else
  return {{prop_kind::forward_training, algorithm::convolution_direct, g.src(), g.wei(tag::any), g.bias_md(),
           g.dst(), g.strides(), g.pad_l(), g.pad_r()},
          UserScratchpad(), Engine()};
#endif
}

// The input-gradient or filter-gradient convolution of `g` (both take the same arguments), given
// the forward one as oneDNN's hint.
template <typename Primitive>
typename Primitive::primitive_desc BackwardDesc(const Geometry& g,
                                                const dnnl::convolution_forward::primitive_desc& fwd) {
#if DNNL_VERSION_MAJOR >= 3
  return typename Primitive::primitive_desc(Engine(), algorithm::convolution_direct, g.src(), g.wei(tag::any),
                                            g.dst(), g.strides(), g.pad_l(), g.pad_r(), fwd, UserScratchpad());
#else
  return typename Primitive::primitive_desc(
      typename Primitive::desc(algorithm::convolution_direct, g.src(), g.wei(tag::any), g.dst(), g.strides(),
                               g.pad_l(), g.pad_r()),
      UserScratchpad(), Engine(), fwd);
#endif
}

// The filter-gradient convolution that also returns the bias gradient (g.bias).
dnnl::convolution_backward_weights::primitive_desc FilterGradWithBiasDesc(
    const Geometry& g, const dnnl::convolution_forward::primitive_desc& fwd) {
#if DNNL_VERSION_MAJOR >= 3
  return {Engine(), algorithm::convolution_direct, g.src(), g.wei(tag::any), g.bias_md(), g.dst(),
          g.strides(), g.pad_l(), g.pad_r(), fwd, UserScratchpad()};
#else
  return {{algorithm::convolution_direct, g.src(), g.wei(tag::any), g.bias_md(), g.dst(), g.strides(), g.pad_l(),
           g.pad_r()},
          UserScratchpad(), Engine(), fwd};
#endif
}

// One cached convolution: its primitive, and the reorder between JAX's HWIO kernel and the layout the
// primitive wants, where they differ (into the primitive's for the forward and the input gradient, back to
// HWIO for the filter gradient).
struct Plan {
  dnnl::primitive conv;
  memory::desc conv_scratchpad;
  memory::desc wei_md;  // the kernel layout the primitive wants
  std::optional<dnnl::reorder> reorder;
  memory::desc reorder_scratchpad;
};

Plan MakePlan(const Geometry& g, char kind) {
  auto fwd = ForwardDesc(g);
  Plan plan;
  if (kind == 'f') {
    plan.conv = dnnl::convolution_forward(fwd);
    plan.conv_scratchpad = fwd.scratchpad_desc();
    plan.wei_md = fwd.weights_desc();
  } else if (kind == 'd') {
    auto pd = BackwardDesc<dnnl::convolution_backward_data>(g, fwd);
    plan.conv = dnnl::convolution_backward_data(pd);
    plan.conv_scratchpad = pd.scratchpad_desc();
    plan.wei_md = pd.weights_desc();
  } else {
    auto pd = g.bias ? FilterGradWithBiasDesc(g, fwd) : BackwardDesc<dnnl::convolution_backward_weights>(g, fwd);
    plan.conv = dnnl::convolution_backward_weights(pd);
    plan.conv_scratchpad = pd.scratchpad_desc();
    plan.wei_md = pd.diff_weights_desc();
  }
  if (plan.wei_md != g.wei()) {
    const bool back = kind == 'w';
    dnnl::reorder::primitive_desc pd(Engine(), back ? plan.wei_md : g.wei(), Engine(), back ? g.wei() : plan.wei_md,
                                     UserScratchpad());
    plan.reorder = dnnl::reorder(pd);
    plan.reorder_scratchpad = pd.scratchpad_desc();
  }
  return plan;
}

const Plan& GetPlan(const Geometry& g, char kind) {
  static std::mutex mutex;
  static std::unordered_map<std::string, std::unique_ptr<Plan>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = cache[g.key(kind)];
  if (!slot) slot = std::make_unique<Plan>(MakePlan(g, kind));
  return *slot;
}

// Runs a reorder or convolution with the scratchpad (under `one_at_a_time`).
void Execute(const dnnl::primitive& primitive, const memory::desc& scratchpad, dnnl::stream& stream,
             std::unordered_map<int, memory> args) {
  args.insert({DNNL_ARG_SCRATCHPAD, memory(scratchpad, Engine(), Buffer(kScratchpad, scratchpad.get_size()))});
  primitive.execute(stream, args);
}

// What the calls so far cost, for benchmarks (CnnjaxConvTotals): time inside the convolutions, calls, calls made from
// another thread than the call before (each calling thread drives its own OpenMP team of workers), and calls
// that ran Winograd.
struct Totals {
  int64_t nanoseconds = 0, calls = 0, thread_changes = 0, winograd_calls = 0;
  std::thread::id last_thread;
};

std::mutex one_at_a_time;  // guards the convolutions and `totals`
Totals totals;

// Runs `g` with cnnjax's Winograd (winograd_avx2.h; under `one_at_a_time`, which guards its buffer).
void RunWinograd(char kind, const Geometry& g, float* x, float* k, float* y, float* b) {
  namespace wino = cnnjax_winograd;
  const wino::Shape shape{g.n, g.h, g.w, g.c, g.o};
  const int threads = omp_get_max_threads();
  const int64_t floats =
      kind == 'w' ? wino::FilterGradScratchFloats(shape, threads) : wino::ScratchFloats(shape, threads);
  auto* scratch = static_cast<float*>(Buffer(kWinograd, sizeof(float) * floats));
  if (kind == 'f') {
    wino::Forward(x, k, g.bias ? b : nullptr, y, shape, scratch);
  } else if (kind == 'd') {
    wino::InputGrad(y, k, x, shape, scratch);
  } else {
    wino::FilterGrad(x, y, k, g.bias ? b : nullptr, shape, scratch);
  }
}

// Runs `g` with oneDNN's direct convolution (under `one_at_a_time`, which guards the scratchpad).
void RunDirect(char kind, const Geometry& g, float* x, float* k, float* y, float* b) {
  const Plan& plan = GetPlan(g, kind);
  dnnl::stream stream(Engine());
  memory x_mem(g.src(), Engine(), x), y_mem(g.dst(), Engine(), y), k_jax(g.wei(), Engine(), k);
  memory k_mem = plan.reorder ? memory(plan.wei_md, Engine()) : k_jax;
  if (plan.reorder && kind != 'w') {
    Execute(*plan.reorder, plan.reorder_scratchpad, stream, {{DNNL_ARG_FROM, k_jax}, {DNNL_ARG_TO, k_mem}});
  }
  if (kind == 'f') {
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, x_mem}, {DNNL_ARG_WEIGHTS, k_mem}, {DNNL_ARG_DST, y_mem}};
    if (g.bias) args.insert({DNNL_ARG_BIAS, memory(g.bias_md(), Engine(), b)});
    Execute(plan.conv, plan.conv_scratchpad, stream, std::move(args));
  } else if (kind == 'd') {
    Execute(plan.conv, plan.conv_scratchpad, stream,
            {{DNNL_ARG_DIFF_SRC, x_mem}, {DNNL_ARG_WEIGHTS, k_mem}, {DNNL_ARG_DIFF_DST, y_mem}});
  } else {
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, x_mem}, {DNNL_ARG_DIFF_WEIGHTS, k_mem},
                                         {DNNL_ARG_DIFF_DST, y_mem}};
    if (g.bias) args.insert({DNNL_ARG_DIFF_BIAS, memory(g.bias_md(), Engine(), b)});
    Execute(plan.conv, plan.conv_scratchpad, stream, std::move(args));
    if (plan.reorder) {
      Execute(*plan.reorder, plan.reorder_scratchpad, stream, {{DNNL_ARG_FROM, k_mem}, {DNNL_ARG_TO, k_jax}});
    }
  }
  stream.wait();
}

// Makes this thread's OpenMP workers flush denormals for good (flush_denormals.h), once per calling thread: oneDNN's
// parallel regions are its own, so a scope cannot be opened in them; the workers serve only cnnjax's kernels and
// oneDNN, which all flush.
void FlushDenormalsOnWorkers() {
  thread_local bool done = false;
  if (done) return;
  done = true;
#pragma omp parallel
  {
    if (omp_get_thread_num() != 0) _mm_setcsr(_mm_getcsr() | cnnjax::FlushDenormals::kFlushBits);
  }
}

// Runs one convolution. `x` NHWC input (or its gradient), `k` HWIO kernel (or its gradient),
// `y` NHWC output (or its gradient), `b` the bias (or its gradient) when g.bias; which are read and which
// written depends on `kind`.
// One convolution at a time: each already uses every core through OpenMP, and XLA, which may start
// independent convolutions on two of its threads at once, gains nothing from overlapping them.
ffi::Error Run(char kind, const Geometry& g, float* x, float* k, float* y, float* b = nullptr) {
  try {
    const bool winograd = g.RunsWinograd(kind);
    if (!winograd) GetPlan(g, kind);  // built outside the lock
    std::lock_guard<std::mutex> lock(one_at_a_time);
    cnnjax::FlushDenormals flush;  // this thread's share of the work
    FlushDenormalsOnWorkers();
    auto start = std::chrono::steady_clock::now();
    if (winograd) {
      RunWinograd(kind, g, x, k, y, b);
    } else {
      RunDirect(kind, g, x, k, y, b);
    }
    totals.nanoseconds += std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::steady_clock::now() - start).count();
    totals.thread_changes += totals.calls > 0 && totals.last_thread != std::this_thread::get_id();
    totals.last_thread = std::this_thread::get_id();
    totals.calls += 1;
    totals.winograd_calls += winograd;
  } catch (const dnnl::error& e) {
    return ffi::Error(ffi::ErrorCode::kInternal, std::string("oneDNN convolution: ") + e.what());
  }
  return ffi::Error::Success();
}

Geometry MakeGeometry(ffi::Span<const int64_t> x, ffi::Span<const int64_t> k, ffi::Span<const int64_t> y,
                      int64_t sh, int64_t sw, int64_t pt, int64_t pl, int64_t pb, int64_t pr, int64_t winograd) {
  Geometry g{x[0], x[1], x[2], x[3], k[0], k[1], k[3], y[1], y[2], sh, sw, pt, pl, pb, pr};
  g.winograd = winograd;
  return g;
}

using F32 = ffi::Buffer<ffi::F32>;
using F32Out = ffi::ResultBuffer<ffi::F32>;

ffi::Error Forward(F32 x, F32 k, F32Out y, int64_t sh, int64_t sw, int64_t pt, int64_t pl, int64_t pb,
                   int64_t pr, int64_t winograd) {
  auto g = MakeGeometry(x.dimensions(), k.dimensions(), y->dimensions(), sh, sw, pt, pl, pb, pr, winograd);
  return Run('f', g, x.typed_data(), k.typed_data(), y->typed_data());
}

ffi::Error InputGrad(F32 dy, F32 k, F32Out dx, int64_t sh, int64_t sw, int64_t pt, int64_t pl, int64_t pb,
                     int64_t pr, int64_t winograd) {
  auto g = MakeGeometry(dx->dimensions(), k.dimensions(), dy.dimensions(), sh, sw, pt, pl, pb, pr, winograd);
  return Run('d', g, dx->typed_data(), k.typed_data(), dy.typed_data());
}

ffi::Error FilterGrad(F32 x, F32 dy, F32Out dk, int64_t sh, int64_t sw, int64_t pt, int64_t pl, int64_t pb,
                      int64_t pr, int64_t winograd) {
  auto g = MakeGeometry(x.dimensions(), dk->dimensions(), dy.dimensions(), sh, sw, pt, pl, pb, pr, winograd);
  return Run('w', g, x.typed_data(), dk->typed_data(), dy.typed_data());
}

ffi::Error ForwardBias(F32 x, F32 k, F32 b, F32Out y, int64_t sh, int64_t sw, int64_t pt, int64_t pl, int64_t pb,
                       int64_t pr, int64_t winograd) {
  auto g = MakeGeometry(x.dimensions(), k.dimensions(), y->dimensions(), sh, sw, pt, pl, pb, pr, winograd);
  g.bias = true;
  return Run('f', g, x.typed_data(), k.typed_data(), y->typed_data(), b.typed_data());
}

ffi::Error FilterGradBias(F32 x, F32 dy, F32Out dk, F32Out db, int64_t sh, int64_t sw, int64_t pt, int64_t pl,
                          int64_t pb, int64_t pr, int64_t winograd) {
  auto g = MakeGeometry(x.dimensions(), dk->dimensions(), dy.dimensions(), sh, sw, pt, pl, pb, pr, winograd);
  g.bias = true;
  return Run('w', g, x.typed_data(), dk->typed_data(), dy.typed_data(), db->typed_data());
}

// The seven integer attributes of every handler, after its buffers.
#define CNNJAX_GEOMETRY_ATTRIBUTES                                                                   \
  .Attr<int64_t>("stride_h").Attr<int64_t>("stride_w").Attr<int64_t>("pad_top").Attr<int64_t>("pad_left") \
      .Attr<int64_t>("pad_bottom").Attr<int64_t>("pad_right").Attr<int64_t>("winograd")

auto Bind() { return ffi::Ffi::Bind().Arg<F32>().Arg<F32>().Ret<F32>() CNNJAX_GEOMETRY_ATTRIBUTES; }

}  // namespace

// Writes {nanoseconds inside the convolutions, calls, thread changes, Winograd calls} since the library was loaded.
extern "C" void CnnjaxConvTotals(int64_t* out) {
  std::lock_guard<std::mutex> lock(one_at_a_time);
  out[0] = totals.nanoseconds;
  out[1] = totals.calls;
  out[2] = totals.thread_changes;
  out[3] = totals.winograd_calls;
}

// 1 when cnnjax's Winograd runs on this CPU (it has AVX2 and FMA), else 0.
extern "C" int CnnjaxConvHasWinograd() { return cnnjax_winograd::CpuSupported(); }

XLA_FFI_DEFINE_HANDLER_SYMBOL(CnnjaxConvForward, Forward, Bind());
XLA_FFI_DEFINE_HANDLER_SYMBOL(CnnjaxConvInputGrad, InputGrad, Bind());
XLA_FFI_DEFINE_HANDLER_SYMBOL(CnnjaxConvFilterGrad, FilterGrad, Bind());
XLA_FFI_DEFINE_HANDLER_SYMBOL(CnnjaxConvForwardBias, ForwardBias,
                              ffi::Ffi::Bind().Arg<F32>().Arg<F32>().Arg<F32>().Ret<F32>() CNNJAX_GEOMETRY_ATTRIBUTES);
XLA_FFI_DEFINE_HANDLER_SYMBOL(CnnjaxConvFilterGradBias, FilterGradBias,
                              ffi::Ffi::Bind().Arg<F32>().Arg<F32>().Ret<F32>().Ret<F32>() CNNJAX_GEOMETRY_ATTRIBUTES);
