// A host emulation of the norm kernels, built as a stand-in for libcuda.so.1: kernels/cuda/norms.cu itself is
// compiled here as C++ (CUDA's keywords and intrinsics defined below with their IEEE semantics) and every CUDA
// thread of a launch runs as a fiber (ucontext), CTA after CTA, switching at each __syncthreads and warp shuffle.
// Pointed at by TERNFLUX_CUDA_DRIVER, it makes the real host path (Sources/CCUDA/cuda_norms.c: argument arrays,
// grid sizes, buffer sizes and copies) and the real device harness (ops/gpu/norms_check.c) run the real kernel
// source on the CPU, where the harness compares every output bit with Sources/CCUDA/norms_reference.c.
//
// What it checks beyond the results' bits:
//   - device memory: each cuMemAlloc is its own mapping with an inaccessible page on either side and the buffer
//     placed against the upper one (16-byte aligned), so an access past either end faults (reported, exit 3);
//     the slack around it is a pattern verified at cuMemFree; fresh buffers hold 0xA5 bytes, so an output element
//     the kernel never writes cannot match the reference; copies must lie inside an allocation;
//   - barriers: every __syncthreads of one generation is the same call site and is reached by every live thread
//     of the CTA; a warp shuffle has the full mask, all 32 lanes alive and at the same call site with the same
//     offset; a CTA whose fibers all wait without progress is a deadlock (exit 3);
//   - launches: gridDim.y, .z and blockDim within the hardware's limits, no dynamic shared memory.
// Only the kernels of norms.cu exist here (cuModuleGetFunction answers CUDA_ERROR_NOT_FOUND for the others).
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <math.h>
#include <string>
#include <type_traits>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>
#include <utility>
#include <vector>

[[noreturn]] static void fatal(const char* what) {
    std::fprintf(stderr, "norms emulation: %s\n", what);
    std::fflush(stderr);
    _exit(3);
}

// ---- The CUDA execution model: CTA-wide and warp-wide barriers over fibers. ----
struct Dim3 {
    unsigned x = 1, y = 1, z = 1;
};
static Dim3 threadIdx, blockIdx, blockDim, gridDim;

namespace emu {
constexpr int kMaxThreads = 1024;
constexpr size_t kStack = 64 * 1024;
struct Fiber {
    ucontext_t ctx;
    std::vector<char> stack;
    bool done = false;
};
struct Warp {
    int live = 0, arrived = 0, line = -1, delta = 0;
    unsigned gen = 0;
    float slot[32];
};
static Fiber fibers[kMaxThreads];
static Warp warps[kMaxThreads / 32];
static ucontext_t scheduler;
static int current = 0, live = 0, arrived = 0, barrier_line = -1;
static unsigned generation = 0;
static unsigned long long progress = 0;
static std::function<void()> body;

static void yield() { swapcontext(&fibers[current].ctx, &scheduler); }

static void release_block_if_complete() {
    if (arrived > 0 && arrived == live) {
        arrived = 0;
        barrier_line = -1;
        generation++;
        progress++;
    }
}
static void release_warp_if_complete(Warp& w) {
    if (w.arrived > 0 && w.arrived == w.live) {
        w.arrived = 0;
        w.line = -1;
        w.gen++;
        progress++;
    }
}

static void syncthreads(int line) {
    if (barrier_line >= 0 && barrier_line != line) fatal("__syncthreads reached at two different call sites in one generation");
    barrier_line = line;
    const unsigned g = generation;
    arrived++;
    progress++;
    release_block_if_complete();
    while (generation == g) yield();
}

static void warp_barrier(Warp& w, int line) {
    if (w.line >= 0 && w.line != line) fatal("a warp shuffle reached at two different call sites by one warp");
    w.line = line;
    const unsigned g = w.gen;
    w.arrived++;
    progress++;
    release_warp_if_complete(w);
    while (w.gen == g) yield();
}

static float shuffle(unsigned mask, float v, int src_or_delta, bool down, int line) {
    if (mask != 0xffffffffu) fatal("a shuffle without the full mask");
    const int tid = (int)threadIdx.x, lane = tid & 31;
    Warp& w = warps[tid / 32];
    if (w.live != 32) fatal("a full-mask shuffle in a warp with exited (or missing) lanes");
    if (w.arrived == 0) w.delta = src_or_delta;
    else if (w.delta != src_or_delta) fatal("the lanes of a warp shuffle with different offsets / sources");
    w.slot[lane] = v;
    warp_barrier(w, line);
    const int from = down ? lane + src_or_delta : src_or_delta;
    const float r = from >= 0 && from < 32 ? w.slot[from] : v;
    warp_barrier(w, line);  // nobody refills the slots before every lane has read
    return r;
}

static void entry() {
    body();
    fibers[current].done = true;
    live--;
    warps[current / 32].live--;
    progress++;
    release_block_if_complete();
    release_warp_if_complete(warps[current / 32]);
}  // returns to uc_link: the scheduler

// Runs `kernel` on every CTA of the grid, every thread of a CTA as a fiber.
static void run(Dim3 grid, Dim3 block, const std::function<void()>& kernel) {
    const int threads = (int)(block.x * block.y * block.z);
    if (block.y != 1 || block.z != 1 || threads > kMaxThreads || threads % 32) fatal("unsupported block shape (1-D, warps only)");
    body = kernel;
    gridDim = grid;
    blockDim = block;
    for (unsigned bz = 0; bz < grid.z; bz++)
        for (unsigned by = 0; by < grid.y; by++)
            for (unsigned bx = 0; bx < grid.x; bx++) {
                blockIdx = {bx, by, bz};
                live = threads;
                arrived = 0;
                barrier_line = -1;
                for (int w = 0; w < threads / 32; w++) warps[w] = Warp{32, 0, -1, 0, 0, {}};
                for (int t = 0; t < threads; t++) {
                    Fiber& f = fibers[t];
                    if (f.stack.empty()) f.stack.resize(kStack);
                    f.done = false;
                    getcontext(&f.ctx);
                    f.ctx.uc_stack.ss_sp = f.stack.data();
                    f.ctx.uc_stack.ss_size = f.stack.size();
                    f.ctx.uc_link = &scheduler;
                    makecontext(&f.ctx, entry, 0);
                }
                for (;;) {
                    const unsigned long long before = progress;
                    bool all_done = true;
                    for (int t = 0; t < threads; t++) {
                        if (fibers[t].done) continue;
                        all_done = false;
                        current = t;
                        threadIdx = {(unsigned)t, 0, 0};
                        swapcontext(&scheduler, &fibers[t].ctx);
                    }
                    if (all_done) break;
                    if (progress == before) fatal("deadlock: every live thread of a CTA waits at a barrier that cannot complete");
                }
            }
}
}  // namespace emu

// ---- CUDA C++ as the kernels use it. ----
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __syncthreads() emu::syncthreads(__LINE__)
#define __shfl_down_sync(mask, v, delta) emu::shuffle(mask, v, delta, true, __LINE__)
#define __shfl_sync(mask, v, src) emu::shuffle(mask, v, src, false, __LINE__)
// IEEE fp32, round to nearest even: what the _rn intrinsics are (the build has -ffp-contract=off, SSE arithmetic).
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fdiv_rn(float a, float b) { return a / b; }
static inline float __fsqrt_rn(float a) { return sqrtf(a); }
static inline uint32_t __float_as_uint(float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return u;
}

#ifndef TF_NORMS_SOURCE  // run.sh --mutants substitutes broken copies
#define TF_NORMS_SOURCE "../../../kernels/cuda/norms.cu"
#endif
#include TF_NORMS_SOURCE

// ---- Device memory: one mapping per allocation, guard pages on both sides. ----
namespace mem {
struct Allocation {
    char* base;
    size_t total, bytes;
    char* user;
};
static std::map<uintptr_t, Allocation> allocations;  // by user address
static const unsigned char kPattern = 0xA5;
static size_t page() { return (size_t)sysconf(_SC_PAGESIZE); }

static char* alloc(size_t bytes) {
    const size_t p = page(), span = (bytes + p - 1) / p * p + p, total = span + 2 * p;
    char* base = (char*)mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) return nullptr;
    mprotect(base, p, PROT_NONE);
    mprotect(base + p + span, p, PROT_NONE);
    std::memset(base + p, kPattern, span);
    char* user = base + p + span - (bytes + 15) / 16 * 16;
    allocations[(uintptr_t)user] = {base, total, bytes, user};
    return user;
}

static bool inside(uintptr_t ptr, size_t bytes) {
    auto it = allocations.upper_bound(ptr);
    if (it == allocations.begin()) return false;
    --it;
    return ptr >= it->first && ptr + bytes <= it->first + it->second.bytes;
}

static int release(uintptr_t ptr) {
    auto it = allocations.find(ptr);
    if (it == allocations.end()) return 1;
    const Allocation& a = it->second;
    const size_t p = page();
    for (char* c = a.base + p; c < a.base + a.total - p; c++) {
        if (c >= a.user && c < a.user + a.bytes) continue;
        if ((unsigned char)*c != kPattern) fatal("a kernel wrote outside a device buffer (the slack next to it changed)");
    }
    munmap(a.base, a.total);
    allocations.erase(it);
    return 0;
}
}  // namespace mem

static void on_segv(int) {
    const char m[] = "norms emulation: a kernel or copy touched memory outside every device buffer (guard page)\n";
    ssize_t ignored = write(2, m, sizeof m - 1);
    (void)ignored;
    _exit(3);
}

// ---- The driver API entry points cuda_driver.c resolves (the ABI's types as in Sources/CCUDA/cuda_driver.h). ----
typedef unsigned long long CUdeviceptr;
typedef int CUresult;
enum { OK = 0, INVALID_VALUE = 1, OUT_OF_MEMORY = 2, NOT_FOUND = 500 };

// A kernel's parameters unpacked from cuLaunchKernel's argument array by the kernel's own declared types.
template <class... A, size_t... I>
static void call(void (*f)(A...), void** args, std::index_sequence<I...>) {
    f(*static_cast<std::remove_cv_t<std::remove_reference_t<A>>*>(args[I])...);
}
template <class... A>
static std::function<void()> bind(void (*f)(A...), void** args) {
    std::vector<std::vector<char>> copies;  // cuLaunchKernel copies the parameters at the call
    static const size_t sizes[] = {sizeof(A)..., 0};
    for (size_t i = 0; i < sizeof...(A); i++) copies.emplace_back((const char*)args[i], (const char*)args[i] + sizes[i]);
    return [f, copies]() mutable {
        std::vector<void*> p;
        for (auto& c : copies) p.push_back(c.data());
        call(f, p.data(), std::index_sequence_for<A...>{});
    };
}

struct Kernel {
    const char* name;
    std::function<std::function<void()>(void**)> bind;
};
static Kernel kernels[] = {
    {"tf_layernorm_modulate_quantize", [](void** a) { return bind(tf_layernorm_modulate_quantize, a); }},
    {"tf_qk_rmsnorm_rope", [](void** a) { return bind(tf_qk_rmsnorm_rope, a); }},
};

extern "C" {
CUresult cuInit(unsigned) {
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_segv;
    sigaction(SIGSEGV, &sa, nullptr);
    return OK;
}
CUresult cuDriverGetVersion(int* v) { *v = 13000; return OK; }
CUresult cuGetErrorString(CUresult r, const char** s) {
    *s = r == OK ? "CUDA_SUCCESS (emulated)" : r == INVALID_VALUE ? "CUDA_ERROR_INVALID_VALUE (emulated)"
       : r == OUT_OF_MEMORY ? "CUDA_ERROR_OUT_OF_MEMORY (emulated)" : r == NOT_FOUND ? "CUDA_ERROR_NOT_FOUND (emulated)"
       : "CUDA error (emulated)";
    return OK;
}
CUresult cuDeviceGetCount(int* n) { *n = 1; return OK; }
CUresult cuDeviceGet(int* d, int ordinal) { if (ordinal != 0) return INVALID_VALUE; *d = 0; return OK; }
CUresult cuDeviceGetAttribute(int* v, int attribute, int) { *v = attribute == 75 ? 9 : attribute == 76 ? 0 : 0; return OK; }
CUresult cuDeviceGetName(char* name, int size, int) { std::snprintf(name, (size_t)size, "host emulation of kernels/cuda/norms.cu"); return OK; }
CUresult cuDeviceTotalMem_v2(size_t* bytes, int) { *bytes = (size_t)1 << 34; return OK; }
static int context_token;
CUresult cuDevicePrimaryCtxRetain(void** ctx, int) { *ctx = &context_token; return OK; }
CUresult cuDevicePrimaryCtxRelease_v2(int) { return OK; }
CUresult cuCtxSetCurrent(void*) { return OK; }
CUresult cuCtxSynchronize(void) { return OK; }
static int module_token;
CUresult cuModuleLoadData(void** module, const void* image) { if (!image) return INVALID_VALUE; *module = &module_token; return OK; }
CUresult cuModuleUnload(void*) { return OK; }
CUresult cuModuleGetFunction(void** f, void*, const char* name) {
    for (Kernel& k : kernels)
        if (std::strcmp(k.name, name) == 0) { *f = &k; return OK; }
    return NOT_FOUND;
}
CUresult cuMemAlloc_v2(CUdeviceptr* p, size_t bytes) {
    if (bytes == 0) return INVALID_VALUE;
    char* u = mem::alloc(bytes);
    if (!u) return OUT_OF_MEMORY;
    *p = (CUdeviceptr)(uintptr_t)u;
    return OK;
}
CUresult cuMemFree_v2(CUdeviceptr p) { return mem::release((uintptr_t)p) ? INVALID_VALUE : OK; }
CUresult cuMemGetInfo_v2(size_t* f, size_t* t) { *f = *t = (size_t)1 << 34; return OK; }
CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void* src, size_t bytes) {
    if (!mem::inside((uintptr_t)dst, bytes)) return INVALID_VALUE;
    std::memcpy((void*)(uintptr_t)dst, src, bytes);
    return OK;
}
CUresult cuMemcpyDtoH_v2(void* dst, CUdeviceptr src, size_t bytes) {
    if (!mem::inside((uintptr_t)src, bytes)) return INVALID_VALUE;
    std::memcpy(dst, (const void*)(uintptr_t)src, bytes);
    return OK;
}
// Streams: the emulation runs every launch and copy at once, in call order, so a stream is only a token and
// synchronizing it has nothing to wait for.
static int stream_token;
CUresult cuStreamCreate(void** stream, unsigned) { *stream = &stream_token; return OK; }
CUresult cuStreamSynchronize(void*) { return OK; }
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void* src, size_t bytes, void*) { return cuMemcpyHtoD_v2(dst, src, bytes); }
CUresult cuMemcpyDtoHAsync_v2(void* dst, CUdeviceptr src, size_t bytes, void*) { return cuMemcpyDtoH_v2(dst, src, bytes); }
CUresult cuLaunchKernel(void* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, unsigned shared,
                        void* stream, void** args, void** extra) {
    (void)stream;
    if (!f || !args || extra || shared || gx == 0 || gy == 0 || gz == 0 || gx > 0x7fffffffu || gy > 65535 || gz > 65535 ||
        bx * by * bz == 0 || bx * by * bz > 1024)
        return INVALID_VALUE;
    Kernel* k = (Kernel*)f;
    emu::run({gx, gy, gz}, {bx, by, bz}, k->bind(args));
    return OK;
}
}
