// FlushDenormals: while in scope, this thread flushes denormal floats to zero (MXCSR flush-to-zero and
// denormals-are-zero), as XLA's CPU code computes.
//
// Why: cnnjax's kernels run their loops on OpenMP threads, which are not XLA's and do not flush; once a
// training step's values get tiny, denormal arithmetic slows a step by a third or more, in phases
// (benchmarks/cpu_step.py's per-step times: ResNet-20 135 -> 205 ms, VGG 120 -> 145 ms). Each parallel
// region of the kernels opens one, and so do the calls on the calling thread.
#pragma once

#if defined(__x86_64__)
#include <xmmintrin.h>

namespace cnnjax {

class FlushDenormals {
 public:
  FlushDenormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | kFlushBits); }
  ~FlushDenormals() { _mm_setcsr(saved_); }
  FlushDenormals(const FlushDenormals&) = delete;
  FlushDenormals& operator=(const FlushDenormals&) = delete;

  static constexpr unsigned int kFlushBits = 0x8040;  // flush-to-zero (bit 15), denormals-are-zero (bit 6)

 private:
  unsigned int saved_;
};

}  // namespace cnnjax
#else
namespace cnnjax {
struct FlushDenormals {};  // elsewhere the CPU's default
}  // namespace cnnjax
#endif
