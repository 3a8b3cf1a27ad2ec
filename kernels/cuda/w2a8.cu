// The ternary W2A8 path on NVIDIA GPUs: per-token int8 activation quantization and the ternary GEMM on
// int8 tensor cores (mma.sync m16n8k32 s8·s8→s32), with the CPU int8 path's exact arithmetic, so both give
// the same bits (Sources/CCUDA/w2a8_reference.c does this arithmetic on the CPU for the tests).
//
// Layouts (Sources/CTernaryKernels: tf_ternary_gemm, TF_FORMAT_I2):
//   X   [M, K] fp32, row-major.
//   XQ  [M, KP] int8, KP = K rounded up to 128, zero past K; INV [M] fp32 = 1 / s_m (0 for an all-zero row).
//   W   [N, KP/128 blocks of 32 bytes]: code = w + 1 in 2 bits; byte j of a block holds k = 32s + j of the
//       block at bits [2s, 2s + 2). Padding is code 1 (weight 0).
//   Y   [M, N] fp32 = float(acc) · (scale[n] · INV[m]) + bias[n], each product and the sum rounded on their own
//       (no FMA), as the CPU kernels do.
#include <cstdint>

// One block per row: s = 127 / max|x|, xq = clamp(rint(x · s), -127, 127) (round half to even), INV = 1 / s.
extern "C" __global__ void tf_w2a8_quantize_rows(const float* __restrict__ X, int64_t K, int64_t KP,
                                                 int8_t* __restrict__ XQ, float* __restrict__ INV) {
    const int64_t m = blockIdx.x;
    const float* x = X + m * K;
    int8_t* q = XQ + m * KP;
    __shared__ float partial[256];
    float amax = 0.0f;
    for (int64_t k = threadIdx.x; k < K; k += blockDim.x) amax = fmaxf(amax, fabsf(x[k]));
    partial[threadIdx.x] = amax;
    __syncthreads();
    for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
        if (threadIdx.x < stride) partial[threadIdx.x] = fmaxf(partial[threadIdx.x], partial[threadIdx.x + stride]);
        __syncthreads();
    }
    amax = partial[0];
    const float s = amax > 0.0f ? __fdiv_rn(127.0f, amax) : 0.0f;
    if (threadIdx.x == 0) INV[m] = amax > 0.0f ? __fdiv_rn(1.0f, s) : 0.0f;
    for (int64_t k = threadIdx.x; k < KP; k += blockDim.x) {
        float v = k < K ? __fmul_rn(x[k], s) : 0.0f;
        v = fminf(fmaxf(v, -127.0f), 127.0f);
        q[k] = (int8_t)rintf(v);
    }
}

// Four 2-bit codes (bits [2s, 2s+2) of the 4 bytes of `word`) as four int8 weights code − 1, packed in a b32.
__device__ __forceinline__ uint32_t decode4(uint32_t word, int s) {
    uint32_t codes = (word >> (2 * s)) & 0x03030303u;   // one code per byte, 0..2
    return __vsub4(codes, 0x01010101u);                 // per-byte code − 1: 0xFF, 0x00, 0x01
}

// One warp per 16×8 tile of Y; the K loop steps 32 weights (one mma) at a time. Fragments as the PTX ISA lays
// out m16n8k32 .s8: lane = 4·group + t; A (row-major) a0..a3 = X[group][4t..4t+3], a4..a7 = X[group+8][4t..],
// a8..a15 the same at k + 16; B (column-major, column n = group) b0..b3 = W[n][4t..4t+3], b4..b7 at k + 16;
// C c0,c1 = Y[group][2t, 2t+1], c2,c3 = Y[group+8][2t, 2t+1].
extern "C" __global__ void tf_w2a8_gemm(const int8_t* __restrict__ XQ, const float* __restrict__ INV, int64_t M, int64_t KP,
                                        const uint8_t* __restrict__ W, const float* __restrict__ scale,
                                        const float* __restrict__ bias, int64_t N, float* __restrict__ Y) {
    const int lane = threadIdx.x & 31;
    const int group = lane >> 2, t = lane & 3;
    const int64_t m0 = (int64_t)blockIdx.y * 16, n0 = (int64_t)blockIdx.x * 8;
    const int64_t rowA0 = m0 + group, rowA1 = m0 + group + 8, colB = n0 + group;
    const int64_t rowBytes = KP / 4;  // 32 bytes per 128 weights
    int32_t c0 = 0, c1 = 0, c2 = 0, c3 = 0;
    for (int64_t k = 0; k < KP; k += 32) {
        uint32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0;
        if (rowA0 < M) {
            a0 = *reinterpret_cast<const uint32_t*>(XQ + rowA0 * KP + k + 4 * t);
            a2 = *reinterpret_cast<const uint32_t*>(XQ + rowA0 * KP + k + 16 + 4 * t);
        }
        if (rowA1 < M) {
            a1 = *reinterpret_cast<const uint32_t*>(XQ + rowA1 * KP + k + 4 * t);
            a3 = *reinterpret_cast<const uint32_t*>(XQ + rowA1 * KP + k + 16 + 4 * t);
        }
        if (colB < N) {
            const uint8_t* block = W + colB * rowBytes + (k / 128) * 32;
            const int s = (int)((k / 32) & 3);
            b0 = decode4(*reinterpret_cast<const uint32_t*>(block + 4 * t), s);
            b1 = decode4(*reinterpret_cast<const uint32_t*>(block + 16 + 4 * t), s);
        }
        asm volatile(
            "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
            "{%0, %1, %2, %3};\n"
            : "+r"(c0), "+r"(c1), "+r"(c2), "+r"(c3)
            : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
    }
    const int64_t n = n0 + 2 * t;
    const int32_t acc[4] = {c0, c1, c2, c3};
    for (int i = 0; i < 4; i++) {
        const int64_t row = i < 2 ? rowA0 : rowA1, col = n + (i & 1);
        if (row >= M || col >= N) continue;
        const float f = __fmul_rn(scale[col], INV[row]);
        const float p = __fmul_rn((float)acc[i], f);
        Y[row * N + col] = __fadd_rn(p, bias ? bias[col] : 0.0f);
    }
}
