// Keeps XLA:CPU's per-step scratch buffer mapped between steps (loaded with LD_PRELOAD by cnnjax.fast.process).
//
// Why: XLA:CPU allocates every buffer of a step, its large scratch buffer included, with
// posix_memalign and frees it when the step ends. glibc serves any block of 32 MiB or more with a
// fresh mmap and returns it with munmap, so the kernel zeroes every page again on first touch,
// every step: a sizeable part of a small network's step on CPU.
// tests/kernels/test_scratch_cache.py checks those page faults go away; benchmarks/cpu_step.py
// times steps with this library preloaded (benchmarks/results/cpu_step.json).
//
// What: posix_memalign requests of at least 32 MiB get page-aligned private mappings. When one is
// freed, it stays mapped as the "cached" block, and the next request of the same rounded size
// reuses it without faults. Only one block is ever cached, and a freed block is unmapped instead
// when a block of the same size allocated after it is still live (two steps in flight): peak
// memory stays that of one scratch buffer. Everything else goes to glibc unchanged.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

extern void *__libc_memalign(size_t alignment, size_t size);
extern void *__libc_malloc(size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void __libc_free(void *ptr);

enum { kMaxLive = 64 };
static const size_t kMinBytes = (size_t)32 << 20;  // glibc's largest mmap threshold: it maps all above
static const size_t kGranule = (size_t)2 << 20;    // whole transparent huge pages

typedef struct {
  void *ptr;
  size_t bytes;
  uint64_t serial;  // allocation order
} Block;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static Block live[kMaxLive];
static int live_count;  // read without the lock by maybe_ours()
static Block cached;
static uint64_t next_serial;
static uint64_t reuses, maps;

static void *map_block(size_t bytes) {
  void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return NULL;
  madvise(p, bytes, MADV_HUGEPAGE);  // as glibc.malloc.hugetlb=1 does for glibc's own mappings
  return p;
}

// Our blocks start on a page; glibc's malloc never returns such an address except for page-aligned
// memalign requests, so every other free() skips the lock.
static int maybe_ours(const void *p) {
  return p != NULL && ((uintptr_t)p & 4095) == 0 && __atomic_load_n(&live_count, __ATOMIC_ACQUIRE) != 0;
}

static int find_live(const void *p) {
  for (int i = 0; i < __atomic_load_n(&live_count, __ATOMIC_RELAXED); i++)
    if (live[i].ptr == p) return i;
  return -1;
}

int posix_memalign(void **out, size_t alignment, size_t size) {
  if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) return EINVAL;
  if (size >= kMinBytes && alignment <= 4096) {
    size_t bytes = (size + kGranule - 1) / kGranule * kGranule;
    void *p = NULL;
    Block stale = {0};
    pthread_mutex_lock(&lock);
    if (live_count < kMaxLive) {
      if (cached.ptr != NULL && cached.bytes == bytes) {
        p = cached.ptr;
        reuses++;
      } else {
        stale = cached;  // a different size: this program's buffers changed; do not hold two
      }
      cached.ptr = NULL;
      if (p == NULL) {
        p = map_block(bytes);
        maps += p != NULL;
      }
      if (p != NULL) {
        live[live_count] = (Block){p, bytes, ++next_serial};
        __atomic_store_n(&live_count, live_count + 1, __ATOMIC_RELEASE);
      }
    }
    pthread_mutex_unlock(&lock);
    if (stale.ptr != NULL) munmap(stale.ptr, stale.bytes);
    if (p != NULL) {
      *out = p;
      return 0;
    }
  }
  void *p = __libc_memalign(alignment, size);
  if (p == NULL) return ENOMEM;
  *out = p;
  return 0;
}

void free(void *p) {
  if (!maybe_ours(p)) {
    __libc_free(p);
    return;
  }
  pthread_mutex_lock(&lock);
  int i = find_live(p);
  if (i < 0) {
    pthread_mutex_unlock(&lock);
    __libc_free(p);
    return;
  }
  Block block = live[i];
  live[i] = live[live_count - 1];
  __atomic_store_n(&live_count, live_count - 1, __ATOMIC_RELEASE);
  int superseded = 0;
  for (int j = 0; j < live_count; j++)
    superseded |= live[j].bytes == block.bytes && live[j].serial > block.serial;
  Block unmap = block;
  if (!superseded) {
    unmap = cached;  // keep the newest free block
    cached = block;
  }
  pthread_mutex_unlock(&lock);
  if (unmap.ptr != NULL) munmap(unmap.ptr, unmap.bytes);
}

// The size of our live block at p, or 0 when p is glibc's.
static size_t live_bytes(const void *p) {
  size_t bytes = 0;
  if (maybe_ours(p)) {
    pthread_mutex_lock(&lock);
    int i = find_live(p);
    if (i >= 0) bytes = live[i].bytes;
    pthread_mutex_unlock(&lock);
  }
  return bytes;
}

void *realloc(void *p, size_t size) {
  size_t old_bytes = live_bytes(p);
  if (old_bytes == 0) return __libc_realloc(p, size);
  void *q = __libc_malloc(size);
  if (q == NULL) return NULL;
  memcpy(q, p, size < old_bytes ? size : old_bytes);
  free(p);
  return q;
}

size_t malloc_usable_size(void *p) {
  size_t bytes = live_bytes(p);
  if (bytes != 0) return bytes;
  static size_t (*glibc_usable_size)(void *);
  if (glibc_usable_size == NULL) glibc_usable_size = (size_t (*)(void *))dlsym(RTLD_NEXT, "malloc_usable_size");
  return glibc_usable_size(p);
}

// Counters for tests and benchmarks: blocks served from the cache, fresh mappings, and whether one is cached.
void cnnjax_scratch_cache_stats(uint64_t *out_reuses, uint64_t *out_maps, uint64_t *out_cached_bytes) {
  pthread_mutex_lock(&lock);
  *out_reuses = reuses;
  *out_maps = maps;
  *out_cached_bytes = cached.ptr != NULL ? cached.bytes : 0;
  pthread_mutex_unlock(&lock);
}
