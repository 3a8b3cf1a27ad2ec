#!/usr/bin/env bash
# Runs the device harness of the norm kernels (ops/gpu/norms_check.c --small: every case but the FLUX-size timed
# ones) against a host emulation of the GPU (emulate.cpp: a stand-in libcuda.so.1 that runs kernels/cuda/norms.cu
# itself, thread by thread, through the real host entry points of Sources/CCUDA/cuda_norms.c), so the kernels'
# index arithmetic, reduction order, launch shapes and argument passing are checked bit for bit against
# Sources/CCUDA/norms_reference.c without a GPU. g++ and gcc only; a few seconds. Exits non-zero on any mismatch.
#
#   bash ops/gpu/norms_emulation/run.sh            the emulation
#   bash ops/gpu/norms_emulation/run.sh --mutants  also: each of a list of one-line breakages of the kernels or of
#                                                  the host entry points must make it fail (the checks have teeth)
set -euo pipefail
cd "$(dirname "$0")/../../.."
mode="${1:-}"
[[ -z "$mode" || "$mode" == --mutants ]] || { echo "usage: $0 [--mutants]" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
kernel=kernels/cuda/norms.cu
host=Sources/CCUDA/cuda_norms.c
emulator() {  # emulator KERNEL-SOURCE OUTPUT
    g++ -O2 -std=c++17 -ffp-contract=off -fno-strict-aliasing -fPIC -shared -Wall -Wno-unknown-pragmas \
        -DTF_NORMS_SOURCE="\"$1\"" ops/gpu/norms_emulation/emulate.cpp -o "$2"
}
harness() {  # harness HOST-ENTRY-SOURCE OUTPUT (as check.sh builds it, with the CI's warnings)
    local sources=() f
    for f in Sources/CCUDA/*.c; do [[ "$f" == "$host" ]] && sources+=("$1") || sources+=("$f"); done
    gcc -O2 -std=gnu11 -ffp-contract=off -pthread -Wall -Wno-unknown-pragmas -ISources/CCUDA/include -ISources/CCUDA \
        ops/gpu/norms_check.c "${sources[@]}" -o "$2" -ldl -lm
}
emulator "$PWD/$kernel" "$work/libcuda.so.1"
harness "$host" "$work/norms_check"
TERNFLUX_CUDA_DRIVER="$work/libcuda.so.1" "$work/norms_check" --small > "$work/out.jsonl" || {
    cat "$work/out.jsonl"; echo "norms emulation: FAILED" >&2; exit 1; }
cases=$(grep -c '"kernel"' "$work/out.jsonl")
echo "norms emulation: $cases cases, every output bit equal to the reference's (host emulation of $kernel)"
[[ "$mode" == --mutants ]] || exit 0

# Each entry: FILE<TAB>sed expression; FILE is the kernel source or the host entry points. Each must fail.
mutants=(
    "$kernel	s/for (int s = TF_NORMS_THREADS \/ 2; s >= 32; s \/= 2) {/for (int s = TF_NORMS_THREADS \/ 2; s >= 64; s \/= 2) {/"  # a tree level lost
    "$kernel	0,/^    red\[t\] = v;$/{n;/__syncthreads();/d}"                                    # no barrier after the partials
    "$kernel	s/for (int s = 16; s > 0; s \/= 2) w = __fadd_rn/for (int s = 1; s < 32; s *= 2) w = __fadd_rn/" # the warp tree reversed
    "$kernel	s/if (k < KP) q\[k\] = tf_norms_quantize/if (k < D) q[k] = tf_norms_quantize/"  # XQ padding left unwritten
    "$kernel	s/if (D <= (int64_t)TF_NORMS_CACHE \* TF_NORMS_THREADS)/if (D <= (int64_t)TF_NORMS_CACHE * TF_NORMS_THREADS + 1)/" # cache overrun
    "$kernel	s/const int64_t b = m \/ rows_per_batch;/const int64_t b = m % rows_per_batch;/" # wrong modulation vector
    "$kernel	s/const float s = amax > 0.0f ? __fdiv_rn(127.0f, amax)/const float s = amax > 0.0f ? __fmul_rn(127.0f, __fdiv_rn(1.0f, amax))/" # 127 · (1 / amax)
    "$kernel	s/const int64_t p = lane + 32 \* j;/const int64_t p = lane * TF_NORMS_PAIRS + j;/"   # other pair ownership (order)
    "$kernel	s/__fmul_rn(-vb, sn\[2 \* p\])/__fmul_rn(vb, sn[2 * p])/"                          # RoPE sign
    "$kernel	s/const bool text = n < text_tokens;/const bool text = n <= text_tokens;/"          # text weights one token too far
    "$kernel	s/((b \* heads + h) \* tokens + n) \* headDim/((n * heads + h) * batch + b) * headDim/" # output layout
    "$kernel	s/return (u + 0x7fffu + ((u >> 16) \& 1u)) >> 16;/return (u + 0x8000u) >> 16;/"   # bf16 ties away from zero
    "$kernel	s/if ((u \& 0x7fffffffu) > 0x7f800000u) return 0x7fc0u;//"                         # NaN not canonical
    "$kernel	s/if (unit >= batch \* tokens \* heads) return;/if (unit > batch * tokens * heads) return;/" # one warp too many
    "$host	s/void \*args\[\] = {&h, &ldh, &M, &D,/void *args[] = {\&h, \&M, \&ldh, \&D,/"        # arguments swapped
    "$host	s/r = launch(d, f, (unsigned)M, args/r = launch(d, f, (unsigned)(M - 1), args/"      # one CTA short
    "$host	s/(rows \* heads + warps - 1) \/ warps)/(rows * heads) \/ warps)/"                    # grid rounded down
    "$host	s/int64_t KP = (D + 127) \/ 128 \* 128, ldy = D;/int64_t KP = (D + 127) \/ 128 * 128, ldy = KP;/" # wrong Y stride
)
status=0
for i in "${!mutants[@]}"; do
    file="${mutants[$i]%%	*}" expr="${mutants[$i]#*	}"
    mkdir -p "$work/m$i"
    target="$work/m$i/$(basename "$file")"
    cp "$file" "$target"
    sed -i -e "$expr" "$target"
    if cmp -s "$target" "$file"; then echo "mutant $i did not apply: $expr"; status=1; continue; fi
    lib="$work/libcuda.so.1" exe="$work/norms_check"
    if [[ "$file" == "$kernel" ]]; then
        lib="$work/m$i/libcuda.so.1"
        emulator "$target" "$lib" 2> "$work/m$i/build.log" || { echo "mutant $i: does not compile (counts as caught)"; continue; }
    else
        exe="$work/m$i/norms_check"
        harness "$target" "$exe" 2> "$work/m$i/build.log" || { echo "mutant $i: does not compile (counts as caught)"; continue; }
    fi
    if TERNFLUX_CUDA_DRIVER="$lib" timeout 120 "$exe" --small > "$work/m$i/out" 2> "$work/m$i/err"; then
        echo "mutant $i SURVIVED: $expr"; status=1
    else
        why=$(grep -m1 -o 'norms emulation: .*' "$work/m$i/err" || grep -m1 -v '"xq_differ":0,"first_xq_difference":-1,"inv_differ":0,"y_differ":0\|"q_differ":0,"first_q_difference":-1,"k_differ":0,"first_k_difference":-1,"v_differ":0\|"probe"' "$work/m$i/out" || true)
        echo "mutant $i caught: ${why:0:150}"
    fi
done
exit $status
