#ifndef TERNFLUX_TERNARY_POOL_H
#define TERNFLUX_TERNARY_POOL_H

#ifdef __cplusplus
extern "C" {
#endif

/* The kernels' persistent worker pool (docs/kernels.md, "Threads").
 *
 * One pool per process: (online cores - 1) worker threads, started on first use, that spin for a short while
 * after each job (so back-to-back GEMMs do not pay a wake-up) and then sleep on a condition variable. The
 * calling thread always works too. Every multi-threaded kernel entry point (tf_ternary_gemm) runs through it.
 *
 * Callers on several threads are serialised: one job runs at a time, each with every core. A task that itself
 * calls tf_parallel_for (or a GEMM) runs that inner job inline on its own thread, so nesting cannot deadlock. */

typedef void (*tf_task_fn)(void *ctx, int task);

/* Runs fn(ctx, t) exactly once for every t in [0, n_tasks), spread over the pool and the calling thread, and
 * returns when all have finished. Tasks are claimed dynamically, so a thread that is descheduled does not
 * hold up the others. n_tasks <= 0 does nothing. */
void tf_parallel_for(int n_tasks, tf_task_fn fn, void *ctx);

/* Worker threads of the pool (0 on a single-core machine); starts the pool if it is not running yet. */
int tf_pool_workers(void);

#ifdef __cplusplus
}
#endif
#endif
