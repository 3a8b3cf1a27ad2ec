/* Runtime CPU dispatch: which SIMD path the GEMM kernels take. */
#include "ternary_gemm.h"

static int forced_isa = -1;

tf_isa tf_detect_isa(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    /* __builtin_cpu_supports also checks that the OS saves the AVX / AVX-512 register state (XCR0). */
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return TF_ISA_PORTABLE;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni"))
        return TF_ISA_AVX512VNNI;
    return TF_ISA_AVX2;
#endif
    return TF_ISA_PORTABLE;
}

tf_isa tf_active_isa(void) {
    return forced_isa >= 0 ? (tf_isa)forced_isa : tf_detect_isa();
}

int tf_set_isa(tf_isa isa) {
    if ((int)isa > (int)tf_detect_isa() || (int)isa < 0) return -1;
    forced_isa = (int)isa;
    return 0;
}

const char *tf_gemm_error_string(int code) {
    switch (code) {
    case TF_GEMM_OK: return "ok";
    case TF_GEMM_EBADMODE: return "unknown activation mode";
    case TF_GEMM_EBADFORMAT: return "unknown ternary format";
    case TF_GEMM_EBADSHAPE: return "bad shape (negative dimension, or K above 132104 in int8 mode)";
    case TF_GEMM_ENULL: return "a required pointer is NULL";
    case TF_GEMM_ENOMEM: return "out of memory for the GEMM buffers";
    default: return "unknown error";
    }
}

const char *tf_isa_name(tf_isa isa) {
    switch (isa) {
    case TF_ISA_AVX512VNNI: return "avx512vnni";
    case TF_ISA_AVX2: return "avx2";
    default: return "portable";
    }
}
