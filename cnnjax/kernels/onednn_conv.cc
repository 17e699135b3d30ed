// 2-D convolution forward, input gradient and filter gradient through oneDNN, as XLA FFI handlers; the
// forward can add a bias and the filter gradient then returns the bias gradient too.
// The `winograd` attribute: 0 direct; 1 oneDNN's Winograd algorithm (F(4x4, 3x3): about a quarter of the
// multiplications) for 3x3 stride-1 convolutions of 32 or more channels each way on maps of at least 4x4,
// where it pays; 2 Winograd wherever oneDNN has it (for benchmarks/conv_algorithms.py, which times both per
// shape: the thresholds come from it). Either falls back to direct where this CPU's oneDNN has no Winograd
// (oneDNN 2.x has it with AVX-512 only; 3.x has none in float32) unless cnnjax's own AVX2 Winograd
// (winograd_avx2.h) takes the shape. oneDNN's Winograd activations are reordered to its blocked layout and back.
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
  bool winograd = false;   // oneDNN's Winograd if this CPU's oneDNN has it, else direct
  int64_t winograd_mode = 0;  // the handler's `winograd` attribute (0 direct, 1 where it pays, 2 always)

  std::string key(char kind) const {
    std::string k(1, kind);
    for (int64_t v : {n, h, w, c, kh, kw, o, oh, ow, sh, sw, pt, pl, pb, pr, int64_t(bias), int64_t(winograd)}) {
      k += "," + std::to_string(v);
    }
    return k;
  }
  memory::desc bias_md() const { return bias ? memory::desc({o}, dt::f32, tag::a) : memory::desc(); }
  bool ThreeByThreeSame() const {
    return kh == 3 && kw == 3 && sh == 1 && sw == 1 && pt == 1 && pl == 1 && pb == 1 && pr == 1;
  }
  // Where oneDNN's Winograd beats direct (benchmarks/conv_algorithms.py: it loses with 16 channels or 2x2 maps).
  bool WinogradPays() const {
    return ThreeByThreeSame() && c >= 32 && o >= 32 && c % 16 == 0 && o % 16 == 0 && oh >= 4 && ow >= 4;
  }
  // Where cnnjax's AVX2 Winograd beats oneDNN's direct AVX2 convolution (the same benchmark under the AVX2 caps:
  // it wins from 16 channels up, and loses on 2x2 maps).
  bool OwnWinogradPays() const { return ThreeByThreeSame() && oh >= 4 && ow >= 4; }
  memory::desc src(tag t = tag::nhwc) const { return {{n, c, h, w}, dt::f32, t}; }
  memory::desc dst(tag t = tag::nhwc) const { return {{n, o, oh, ow}, dt::f32, t}; }
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

// The process's buffers, grown as needed: the scratchpad, and x and y in the primitive's layout (Winograd's
// blocked one). One each, not one per XLA thread (12 to 18 of them call in a ResNet-20 step): only the
// convolution holding `one_at_a_time` uses them.
enum Slot { kScratchpad, kX, kY, kOwnWinograd, kSlots };
void* Buffer(Slot slot, size_t bytes) {
  static std::unique_ptr<char[]> buffers[kSlots];
  static size_t capacities[kSlots] = {};
  if (bytes > capacities[slot]) {
    buffers[slot].reset(new char[bytes]);
    capacities[slot] = bytes;
  }
  return buffers[slot].get();
}

algorithm Algorithm(const Geometry& g) {
  return g.winograd ? algorithm::convolution_winograd : algorithm::convolution_direct;
}

// The activations' layout: JAX's NHWC, or for Winograd the one oneDNN chooses (blocked).
tag Activations(const Geometry& g) { return g.winograd ? tag::any : tag::nhwc; }

dnnl::convolution_forward::primitive_desc ForwardDesc(const Geometry& g) {
#if DNNL_VERSION_MAJOR >= 3
  return {Engine(), prop_kind::forward_training, Algorithm(g), g.src(Activations(g)), g.wei(tag::any),
          g.bias_md(), g.dst(Activations(g)), g.strides(), g.pad_l(), g.pad_r(), UserScratchpad()};
#else
  return {{prop_kind::forward_training, Algorithm(g), g.src(Activations(g)), g.wei(tag::any), g.bias_md(),
           g.dst(Activations(g)), g.strides(), g.pad_l(), g.pad_r()},
          UserScratchpad(), Engine()};
#endif
}

// The input-gradient or filter-gradient convolution of `g` (both take the same arguments), given
// the forward one as oneDNN's hint.
template <typename Primitive>
typename Primitive::primitive_desc BackwardDesc(const Geometry& g,
                                                const dnnl::convolution_forward::primitive_desc& fwd) {
#if DNNL_VERSION_MAJOR >= 3
  return typename Primitive::primitive_desc(Engine(), Algorithm(g), g.src(Activations(g)), g.wei(tag::any),
                                            g.dst(Activations(g)), g.strides(), g.pad_l(), g.pad_r(), fwd,
                                            UserScratchpad());
#else
  return typename Primitive::primitive_desc(
      typename Primitive::desc(Algorithm(g), g.src(Activations(g)), g.wei(tag::any), g.dst(Activations(g)),
                               g.strides(), g.pad_l(), g.pad_r()),
      UserScratchpad(), Engine(), fwd);
#endif
}

// The filter-gradient convolution that also returns the bias gradient (g.bias).
dnnl::convolution_backward_weights::primitive_desc FilterGradWithBiasDesc(
    const Geometry& g, const dnnl::convolution_forward::primitive_desc& fwd) {
#if DNNL_VERSION_MAJOR >= 3
  return {Engine(), Algorithm(g), g.src(Activations(g)), g.wei(tag::any), g.bias_md(), g.dst(Activations(g)),
          g.strides(), g.pad_l(), g.pad_r(), fwd, UserScratchpad()};
#else
  return {{Algorithm(g), g.src(Activations(g)), g.wei(tag::any), g.bias_md(), g.dst(Activations(g)), g.strides(),
           g.pad_l(), g.pad_r()},
          UserScratchpad(), Engine(), fwd};
#endif
}

// A reorder between JAX's layout and the primitive's: into the primitive's (`read`) or back.
struct Reorder {
  dnnl::reorder primitive;
  memory::desc scratchpad;
  bool read;
};

std::optional<Reorder> MakeReorder(const memory::desc& jax, const memory::desc& primitive, bool read) {
  if (jax == primitive) return std::nullopt;
  dnnl::reorder::primitive_desc pd(Engine(), read ? jax : primitive, Engine(), read ? primitive : jax,
                                   UserScratchpad());
  return Reorder{dnnl::reorder(pd), pd.scratchpad_desc(), read};
}

// One cached convolution: its primitive, and reorders of what it reads from JAX's layouts (NHWC, HWIO) into
// its own and of what it writes back, where they differ. The forward reads x and the kernel and writes y; the
// input gradient reads y and the kernel and writes x; the filter gradient reads x and y and writes the kernel.
struct Plan {
  dnnl::primitive conv;
  memory::desc conv_scratchpad;
  memory::desc x_md, wei_md, y_md;  // the layouts the primitive wants
  std::optional<Reorder> x, wei, y;
  bool winograd;  // the algorithm it runs
};

Plan MakePlan(const Geometry& g, char kind) {
  auto fwd = ForwardDesc(g);
  Plan plan;
  plan.winograd = g.winograd;
  if (kind == 'f') {
    plan.conv = dnnl::convolution_forward(fwd);
    plan.conv_scratchpad = fwd.scratchpad_desc();
    plan.x_md = fwd.src_desc(), plan.wei_md = fwd.weights_desc(), plan.y_md = fwd.dst_desc();
  } else if (kind == 'd') {
    auto pd = BackwardDesc<dnnl::convolution_backward_data>(g, fwd);
    plan.conv = dnnl::convolution_backward_data(pd);
    plan.conv_scratchpad = pd.scratchpad_desc();
    plan.x_md = pd.diff_src_desc(), plan.wei_md = pd.weights_desc(), plan.y_md = pd.diff_dst_desc();
  } else {
    auto pd = g.bias ? FilterGradWithBiasDesc(g, fwd) : BackwardDesc<dnnl::convolution_backward_weights>(g, fwd);
    plan.conv = dnnl::convolution_backward_weights(pd);
    plan.conv_scratchpad = pd.scratchpad_desc();
    plan.x_md = pd.src_desc(), plan.wei_md = pd.diff_weights_desc(), plan.y_md = pd.diff_dst_desc();
  }
  plan.x = MakeReorder(g.src(), plan.x_md, kind != 'd');
  plan.wei = MakeReorder(g.wei(), plan.wei_md, kind != 'w');
  plan.y = MakeReorder(g.dst(), plan.y_md, kind != 'f');
  return plan;
}

// The plan of `g`; one asking for Winograd where this CPU's oneDNN has none is direct.
const Plan& GetPlan(Geometry g, char kind) {
  static std::mutex mutex;
  static std::unordered_map<std::string, std::unique_ptr<Plan>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = cache[g.key(kind)];
  if (!slot) {
    try {
      slot = std::make_unique<Plan>(MakePlan(g, kind));
    } catch (const dnnl::error&) {
      if (!g.winograd) throw;
      g.winograd = false;
      slot = std::make_unique<Plan>(MakePlan(g, kind));
    }
  }
  return *slot;
}

// Runs a reorder or convolution with the scratchpad (under `one_at_a_time`).
void Execute(const dnnl::primitive& primitive, const memory::desc& scratchpad, dnnl::stream& stream,
             std::unordered_map<int, memory> args) {
  args.insert({DNNL_ARG_SCRATCHPAD, memory(scratchpad, Engine(), Buffer(kScratchpad, scratchpad.get_size()))});
  primitive.execute(stream, args);
}

// Copies `jax` into `own` (a read) or `own` into `jax` with `reorder`, if any.
void Copy(const std::optional<Reorder>& reorder, memory& jax, memory& own, dnnl::stream& stream) {
  if (!reorder) return;
  Execute(reorder->primitive, reorder->scratchpad, stream,
          {{DNNL_ARG_FROM, reorder->read ? jax : own}, {DNNL_ARG_TO, reorder->read ? own : jax}});
}

// What the calls so far cost, for benchmarks (CnnjaxConvTotals): time inside oneDNN, calls, calls made from
// another thread than the call before (each calling thread drives its own OpenMP team of workers), and calls
// that ran Winograd.
struct Totals {
  int64_t nanoseconds = 0, calls = 0, thread_changes = 0, winograd_calls = 0;
  std::thread::id last_thread;
};

std::mutex one_at_a_time;  // guards the convolutions and `totals`
Totals totals;

// Whether this CPU's oneDNN has a Winograd convolution at all (probed with a shape where it pays).
bool OneDnnHasWinograd() {
  Geometry g{1, 8, 8, 32, 3, 3, 32, 8, 8, 1, 1, 1, 1, 1, 1, false, true};
  try {
    ForwardDesc(g);
    return true;
  } catch (const dnnl::error&) {
    return false;
  }
}

// Whether cnnjax's AVX2 Winograd (winograd_avx2.h) runs `g`: Winograd asked for (where it pays, or always),
// this CPU's oneDNN without one, and a shape the kernel takes (3x3, stride 1, padding 1, channels a multiple
// of 16).
bool OwnWinograd(const Geometry& g) {
  static const bool onednn_has_winograd = OneDnnHasWinograd();
  const bool asked = g.winograd_mode == 2 || (g.winograd_mode == 1 && g.OwnWinogradPays());
  return asked && !onednn_has_winograd && g.ThreeByThreeSame() && g.oh == g.h && g.ow == g.w &&
         cnnjax_winograd::ShapeSupported(g.c, g.o) && cnnjax_winograd::CpuSupported();
}

// Runs `g` with cnnjax's AVX2 Winograd (under `one_at_a_time`, which guards its scratch buffer).
void RunOwnWinograd(char kind, const Geometry& g, float* x, float* k, float* y, float* b) {
  namespace wino = cnnjax_winograd;
  const wino::Shape shape{g.n, g.h, g.w, g.c, g.o};
  auto* scratch = static_cast<float*>(
      Buffer(kOwnWinograd, sizeof(float) * wino::ScratchFloats(shape, omp_get_max_threads())));
  if (kind == 'f') {
    wino::Forward(x, k, g.bias ? b : nullptr, y, shape, scratch);
  } else if (kind == 'd') {
    wino::InputGrad(y, k, x, shape, scratch);
  } else {
    wino::FilterGrad(x, y, k, g.bias ? b : nullptr, shape, scratch);
  }
}

// Runs the oneDNN plan of one convolution (under `one_at_a_time`, which guards the buffers).
void RunOneDnn(char kind, const Geometry& g, const Plan& plan, float* x, float* k, float* y, float* b) {
  dnnl::stream stream(Engine());
  memory x_jax(g.src(), Engine(), x), y_jax(g.dst(), Engine(), y), k_jax(g.wei(), Engine(), k);
  memory x_mem = plan.x ? memory(plan.x_md, Engine(), Buffer(kX, plan.x_md.get_size())) : x_jax;
  memory y_mem = plan.y ? memory(plan.y_md, Engine(), Buffer(kY, plan.y_md.get_size())) : y_jax;
  memory k_mem = plan.wei ? memory(plan.wei_md, Engine()) : k_jax;
  if (kind == 'f') {
    Copy(plan.x, x_jax, x_mem, stream);
    Copy(plan.wei, k_jax, k_mem, stream);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, x_mem}, {DNNL_ARG_WEIGHTS, k_mem}, {DNNL_ARG_DST, y_mem}};
    if (g.bias) args.insert({DNNL_ARG_BIAS, memory(g.bias_md(), Engine(), b)});
    Execute(plan.conv, plan.conv_scratchpad, stream, std::move(args));
    Copy(plan.y, y_jax, y_mem, stream);
  } else if (kind == 'd') {
    Copy(plan.y, y_jax, y_mem, stream);
    Copy(plan.wei, k_jax, k_mem, stream);
    Execute(plan.conv, plan.conv_scratchpad, stream,
            {{DNNL_ARG_DIFF_SRC, x_mem}, {DNNL_ARG_WEIGHTS, k_mem}, {DNNL_ARG_DIFF_DST, y_mem}});
    Copy(plan.x, x_jax, x_mem, stream);
  } else {
    Copy(plan.x, x_jax, x_mem, stream);
    Copy(plan.y, y_jax, y_mem, stream);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, x_mem}, {DNNL_ARG_DIFF_WEIGHTS, k_mem},
                                         {DNNL_ARG_DIFF_DST, y_mem}};
    if (g.bias) args.insert({DNNL_ARG_DIFF_BIAS, memory(g.bias_md(), Engine(), b)});
    Execute(plan.conv, plan.conv_scratchpad, stream, std::move(args));
    Copy(plan.wei, k_jax, k_mem, stream);
  }
  stream.wait();
}

// Runs one convolution. `x` NHWC input (or its gradient), `k` HWIO kernel (or its gradient),
// `y` NHWC output (or its gradient), `b` the bias (or its gradient) when g.bias; which are read and which
// written depends on `kind`.
// One convolution at a time: each already uses every core through OpenMP, and XLA, which may start
// independent convolutions on two of its threads at once, gains nothing from overlapping them.
ffi::Error Run(char kind, const Geometry& g, float* x, float* k, float* y, float* b = nullptr) {
  try {
    const Plan& plan = GetPlan(g, kind);
    const bool own_winograd = OwnWinograd(g);
    std::lock_guard<std::mutex> lock(one_at_a_time);
    auto start = std::chrono::steady_clock::now();
    if (own_winograd) {
      RunOwnWinograd(kind, g, x, k, y, b);
    } else {
      RunOneDnn(kind, g, plan, x, k, y, b);
    }
    totals.nanoseconds += std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::steady_clock::now() - start).count();
    totals.thread_changes += totals.calls > 0 && totals.last_thread != std::this_thread::get_id();
    totals.last_thread = std::this_thread::get_id();
    totals.calls += 1;
    totals.winograd_calls += plan.winograd || own_winograd;
  } catch (const dnnl::error& e) {
    return ffi::Error(ffi::ErrorCode::kInternal, std::string("oneDNN convolution: ") + e.what());
  }
  return ffi::Error::Success();
}

Geometry MakeGeometry(ffi::Span<const int64_t> x, ffi::Span<const int64_t> k, ffi::Span<const int64_t> y,
                      int64_t sh, int64_t sw, int64_t pt, int64_t pl, int64_t pb, int64_t pr, int64_t winograd) {
  Geometry g{x[0], x[1], x[2], x[3], k[0], k[1], k[3], y[1], y[2], sh, sw, pt, pl, pb, pr};
  g.winograd_mode = winograd;
  g.winograd = winograd == 2 || (winograd == 1 && g.WinogradPays());
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

// Writes {nanoseconds inside oneDNN, calls, thread changes, Winograd calls} since the library was loaded.
extern "C" void CnnjaxConvTotals(int64_t* out) {
  std::lock_guard<std::mutex> lock(one_at_a_time);
  out[0] = totals.nanoseconds;
  out[1] = totals.calls;
  out[2] = totals.thread_changes;
  out[3] = totals.winograd_calls;
}

// 1 when this CPU's oneDNN has a Winograd convolution (for a shape where it pays), 2 when it has none but
// cnnjax's AVX2 Winograd runs on this CPU, else 0.
extern "C" int CnnjaxConvHasWinograd() {
  if (OneDnnHasWinograd()) return 1;
  return cnnjax_winograd::CpuSupported() ? 2 : 0;
}

XLA_FFI_DEFINE_HANDLER_SYMBOL(CnnjaxConvForward, Forward, Bind());
XLA_FFI_DEFINE_HANDLER_SYMBOL(CnnjaxConvInputGrad, InputGrad, Bind());
XLA_FFI_DEFINE_HANDLER_SYMBOL(CnnjaxConvFilterGrad, FilterGrad, Bind());
XLA_FFI_DEFINE_HANDLER_SYMBOL(CnnjaxConvForwardBias, ForwardBias,
                              ffi::Ffi::Bind().Arg<F32>().Arg<F32>().Arg<F32>().Ret<F32>() CNNJAX_GEOMETRY_ATTRIBUTES);
XLA_FFI_DEFINE_HANDLER_SYMBOL(CnnjaxConvFilterGradBias, FilterGradBias,
                              ffi::Ffi::Bind().Arg<F32>().Arg<F32>().Ret<F32>().Ret<F32>() CNNJAX_GEOMETRY_ATTRIBUTES);
