/* The kernels' persistent worker pool (ternary_pool.h) and per-thread scratch memory.
 *
 * Hand-off without a lock on the fast path. A job lives in one of two slots (by generation parity) and one
 * 64-bit word, `ticket` = generation << 32 | index of the next unclaimed task. A thread claims task i of
 * generation g by compare-and-swap (g, i) -> (g, i + 1) after reading the slot; a thread that read an older
 * generation fails the swap and stops, so no thread ever runs a task with another job's function. The slot of
 * generation g is rewritten only for g + 2, which is prepared after g + 1 was published, and g + 1 is published
 * only after every task of g has finished.
 *
 * Idle workers spin (pause) for SPIN_NS after their last job, then sleep on `wake`; the caller, once out of
 * tasks, spins for SPIN_NS on `remaining` and then sleeps on `done`. Each side announces that it sleeps
 * (`sleepers`, `caller_asleep`) before re-checking its condition under `lock`, and the other side reads that
 * flag after its own sequentially consistent store, so no wake-up is lost.
 */
#define _GNU_SOURCE 1 /* sched_getaffinity */
#include "ternary_pool.h"
#include "gemm_internal.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define POOL_MAX_WORKERS 63
/* Spin before sleeping: long enough to bridge the gap between the linears of one transformer block (norms,
 * activations, attention run in between), short enough not to burn a shared machine's cores when idle. */
#define SPIN_NS 200000
/* Scratch buffers up to this size are kept per thread between calls; larger ones are freed after use. */
#define SCRATCH_KEEP_BYTES ((size_t)8 << 20)

typedef struct {
    _Atomic(tf_task_fn) fn;
    _Atomic(void *) ctx;
    _Atomic int n_tasks;
} job_slot;

static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t call_lock = PTHREAD_MUTEX_INITIALIZER; /* one job at a time */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;      /* guards sleeping on wake / done */
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static pthread_cond_t done = PTHREAD_COND_INITIALIZER;
static int n_workers;
static job_slot slots[2];
static _Atomic uint64_t ticket;
static _Atomic int remaining;
static _Atomic int sleepers;
static _Atomic int caller_asleep;

/* Set on pool workers for their lifetime and on a caller while its job runs: a nested call runs inline. */
static __thread int inside_job;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static inline uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint32_t generation_of(uint64_t t) { return (uint32_t)(t >> 32); }

/* Claims and runs tasks of generation g until none is left (or g is over). */
static void run_tasks(uint32_t g) {
    job_slot *s = &slots[g & 1];
    uint64_t t = atomic_load(&ticket);
    for (;;) {
        if (generation_of(t) != g) return;
        tf_task_fn fn = atomic_load_explicit(&s->fn, memory_order_relaxed);
        void *ctx = atomic_load_explicit(&s->ctx, memory_order_relaxed);
        int n = atomic_load_explicit(&s->n_tasks, memory_order_relaxed);
        uint32_t i = (uint32_t)t;
        if ((int64_t)i >= (int64_t)n) return;
        if (!atomic_compare_exchange_weak(&ticket, &t, t + 1)) continue; /* t now holds the current ticket */
        fn(ctx, (int)i);
        if (atomic_fetch_sub(&remaining, 1) == 1 && atomic_load(&caller_asleep)) {
            pthread_mutex_lock(&lock);
            pthread_cond_signal(&done);
            pthread_mutex_unlock(&lock);
        }
        t = atomic_load(&ticket);
    }
}

static void *worker_main(void *arg) {
    (void)arg;
    inside_job = 1;
    uint32_t seen = 0; /* workers start before the first job is published (generation 0 has no tasks) */
    for (;;) {
        uint32_t g = generation_of(atomic_load(&ticket));
        if (g == seen) {
            const uint64_t deadline = now_ns() + SPIN_NS;
            for (;;) {
                for (int i = 0; i < 64; i++) cpu_relax();
                g = generation_of(atomic_load(&ticket));
                if (g != seen || now_ns() > deadline) break;
            }
        }
        if (g == seen) {
            pthread_mutex_lock(&lock);
            atomic_fetch_add(&sleepers, 1);
            while ((g = generation_of(atomic_load(&ticket))) == seen) pthread_cond_wait(&wake, &lock);
            atomic_fetch_sub(&sleepers, 1);
            pthread_mutex_unlock(&lock);
        }
        seen = g;
        run_tasks(g);
    }
    return NULL;
}

/* TERNFLUX_THREADS caps the threads of one process (the caller included); unset, empty or not a positive
 * integer: no cap here (the ternflux command rejects a bad value before any kernel runs). */
static int thread_cap(void) {
    const char *v = getenv("TERNFLUX_THREADS");
    if (!v || !*v) return 0;
    char *end = NULL;
    long n = strtol(v, &end, 10);
    return (*end == 0 && n > 0 && n <= 4096) ? (int)n : 0;
}

static int usable_cores(void) {
    const int cap = thread_cap();
    int n = 0;
#if defined(__linux__)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
#endif
    if (n <= 0) {
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        n = online > 0 ? (int)online : 1;
    }
    return cap > 0 && cap < n ? cap : n;
}

static void pool_start(void) {
    int want = usable_cores() - 1;
    if (want > POOL_MAX_WORKERS) want = POOL_MAX_WORKERS;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (int i = 0; i < want; i++) {
        pthread_t th;
        if (pthread_create(&th, &attr, worker_main, NULL) != 0) break; /* fewer workers: the caller does more */
        n_workers++;
    }
    pthread_attr_destroy(&attr);
}

int tf_pool_workers(void) {
    pthread_once(&pool_once, pool_start);
    return n_workers;
}

int tf_pool_threads(void) { return tf_pool_workers() + 1; }

void tf_parallel_for(int n_tasks, tf_task_fn fn, void *ctx) {
    if (n_tasks <= 0) return;
    if (n_tasks == 1 || inside_job || tf_pool_workers() == 0) {
        for (int t = 0; t < n_tasks; t++) fn(ctx, t);
        return;
    }
    pthread_mutex_lock(&call_lock);
    inside_job = 1;
    const uint32_t g = generation_of(atomic_load(&ticket)) + 1;
    job_slot *s = &slots[g & 1];
    atomic_store_explicit(&s->fn, fn, memory_order_relaxed);
    atomic_store_explicit(&s->ctx, ctx, memory_order_relaxed);
    atomic_store_explicit(&s->n_tasks, n_tasks, memory_order_relaxed);
    atomic_store(&remaining, n_tasks);
    atomic_store(&ticket, (uint64_t)g << 32); /* publishes the slot (sequentially consistent store) */
    if (atomic_load(&sleepers) > 0) {
        pthread_mutex_lock(&lock);
        pthread_cond_broadcast(&wake);
        pthread_mutex_unlock(&lock);
    }
    run_tasks(g);
    if (atomic_load(&remaining) > 0) {
        const uint64_t deadline = now_ns() + SPIN_NS;
        while (atomic_load(&remaining) > 0 && now_ns() <= deadline)
            for (int i = 0; i < 16; i++) cpu_relax();
        if (atomic_load(&remaining) > 0) {
            pthread_mutex_lock(&lock);
            atomic_store(&caller_asleep, 1);
            while (atomic_load(&remaining) > 0) pthread_cond_wait(&done, &lock);
            atomic_store(&caller_asleep, 0);
            pthread_mutex_unlock(&lock);
        }
    }
    inside_job = 0;
    pthread_mutex_unlock(&call_lock);
}

/* ---------------------------------------------------------------------------------------------------- */
/* Per-thread scratch: the GEMM's panels and quantized activations, reused between calls on one thread.   */

typedef struct {
    void *ptr[TF_SCRATCH_SLOTS];
    size_t size[TF_SCRATCH_SLOTS];
} scratch_set;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *p) {
    scratch_set *s = p;
    for (int i = 0; i < TF_SCRATCH_SLOTS; i++) free(s->ptr[i]);
    free(s);
}

static void scratch_init(void) { pthread_key_create(&scratch_key, scratch_free); }

void *tf_scratch_acquire(int slot, size_t bytes) {
    pthread_once(&scratch_once, scratch_init);
    if (bytes == 0) bytes = 64;
    scratch_set *s = pthread_getspecific(scratch_key);
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s) return NULL;
        if (pthread_setspecific(scratch_key, s) != 0) {
            free(s);
            return NULL;
        }
    }
    if (s->size[slot] >= bytes) return s->ptr[slot];
    free(s->ptr[slot]);
    s->ptr[slot] = NULL;
    s->size[slot] = 0;
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes)) return NULL;
    s->ptr[slot] = p;
    s->size[slot] = bytes;
    return p;
}

void tf_scratch_release(int slot) {
    scratch_set *s = pthread_getspecific(scratch_key);
    if (s && s->size[slot] > SCRATCH_KEEP_BYTES) {
        free(s->ptr[slot]);
        s->ptr[slot] = NULL;
        s->size[slot] = 0;
    }
}
