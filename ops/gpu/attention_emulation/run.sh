#!/usr/bin/env bash
# Builds and runs the host emulation of tf_flash_attention_bf16_d32 / _d128 (emulate.cpp: the kernel's index
# arithmetic from kernels/cuda/attention_layout.cuh, the PTX semantics of its instructions, the result against
# Sources/CCUDA/attention_reference.c within the device check's tolerance). No GPU, no CUDA needed: g++ and gcc
# only. Exits non-zero on any mismatch.
#
#   bash ops/gpu/attention_emulation/run.sh            the emulation (seconds)
#   bash ops/gpu/attention_emulation/run.sh --mutants  also: each of a list of one-line breakages of the layout
#                                                      header or of the emulated control flow must make it fail
set -euo pipefail
cd "$(dirname "$0")/../../.."
mode="${1:-}"
[[ -z "$mode" || "$mode" == --mutants ]] || { echo "usage: $0 [--mutants]" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
layout=kernels/cuda/attention_layout.cuh
emu=ops/gpu/attention_emulation/emulate.cpp
build() {  # build LAYOUT-HEADER EMULATOR OUTPUT [extra flags]
    g++ -O2 -std=c++17 -ffp-contract=off -Wall -Wextra -Wno-comment "${@:4}" -ISources/CCUDA/include -DTF_ATTN_LAYOUT="\"$1\"" \
        "$2" "$work/reference.o" -o "$3" -lm
}
gcc -O2 -std=gnu11 -ffp-contract=off -ISources/CCUDA/include -c Sources/CCUDA/attention_reference.c -o "$work/reference.o"
build "$PWD/$layout" "$emu" "$work/emulate"
"$work/emulate"
[[ "$mode" == --mutants ]] || exit 0

# Each entry: FILE<TAB>sed expression; FILE is the layout header (the kernel's index arithmetic) or the emulator
# (its copy of the kernel's control flow, to show the pipeline hazards are detected). Each must fail. The
# mutants run without the 4 608-token cases (TF_ATTN_QUICK) to stay in seconds each.
mutants=(
    "$layout	s/return D == 32 ? (r >> 1) \& 3 : r \& 7;/return 0;/"                          # no swizzle: bank conflicts
    "$layout	s/return D == 32 ? (r >> 1) \& 3 : r \& 7;/return D == 32 ? r \& 3 : r \& 7;/"  # D = 32 swizzle on the wrong bits
    "$layout	s/return D == 32 ? (r >> 1) \& 3 : r \& 7;/return D == 32 ? (r >> 1) \& 3 : (r >> 1) \& 7;/" # D = 128 likewise
    "$layout	s/warp \* 16 + (j \& 1) \* 8 + (lane \& 7), 2 \* ks + (j >> 1)/warp * 16 + (j >> 1) * 8 + (lane \& 7), 2 * ks + (j \& 1)/" # Q matrices 1, 2 swapped
    "$layout	s/np \* 16 + (j >> 1) \* 8 + (lane \& 7), 2 \* ks + (j \& 1)/np * 16 + (j \& 1) * 8 + (lane \& 7), 2 * ks + (j >> 1)/" # K matrices 1, 2 swapped
    "$layout	s/kk \* 16 + (j \& 1) \* 8 + (lane \& 7), 2 \* dp + (j >> 1)/kk * 16 + (j >> 1) * 8 + (lane \& 7), 2 * dp + (j \& 1)/" # V matrices 1, 2 swapped
    "$layout	s/TF_ATTN_FN int tf_attn_k_breg(int j) { return j \& 1; }/TF_ATTN_FN int tf_attn_k_breg(int j) { return (j + 1) \& 1; }/" # K b0b1 / b2b3 swapped
    "$layout	s/TF_ATTN_FN int tf_attn_v_tile(int dp, int j) { return 2 \* dp + (j >> 1); }/TF_ATTN_FN int tf_attn_v_tile(int dp, int j) { return 2 * dp + (j \& 1); }/" # V registers to the wrong tiles
    "$layout	s/TF_ATTN_FN int tf_attn_p_tile(int kk, int r) { return 2 \* kk + (r >> 1); }/TF_ATTN_FN int tf_attn_p_tile(int kk, int r) { return 2 * kk + (r \& 1); }/" # P a2a3 / a4a5 swapped
    "$layout	s/TF_ATTN_FN int tf_attn_p_elem(int r) { return 2 \* (r \& 1); }/TF_ATTN_FN int tf_attn_p_elem(int r) { return 0 * r; }/" # P rows g + 8 from row g
    "$layout	s/(lane >> 2) + (i >> 1) \* 8; }/(lane >> 2) + (i \& 1) * 8; }/"             # wrong accumulator rows
    "$layout	s/nt \* 8 + 2 \* (lane \& 3) + (i \& 1); }/nt * 8 + (lane \& 3) + 4 * (i \& 1); }/" # wrong accumulator columns
    "$layout	s/const bool inside = row0 + r < tokens;/const bool inside = row0 + r <= tokens;/" # reads row `tokens`
    "$layout	s/copy.bytes = inside ? 16u : 0u;/copy.bytes = 16u;/"                      # no zero fill
    "$layout	s/copy.global = (inside ? row0 + r : 0) \* D + c \* 8;/copy.global = (row0 + r) * D + c * 8;/" # source past the head
    "$layout	s/return ((b \* tokens + row) \* heads + h) \* D + d;/return ((h * tokens + row) * heads + b) * D + d;/" # O in [heads, tokens] order
    "$layout	s/#define TF_ATTN_SCALE_LOG2_D128 0.12751743f/#define TF_ATTN_SCALE_LOG2_D128 0.08838835f/" # scale without log2(e)
    "$emu	s/if (k0 + tf_attn_c_col(nt, lane, i) >= p.N) s\[warp\]\[lane\]\[nt\]\[i\] = -INFINITY;/;/" # no key mask
    "$emu	s/for (int mask : {1, 2}) {  \/\/ shfl.sync.bfly/for (int mask : {1}) {  \/\/ shfl.sync.bfly/" # half the row-max reduction
    "$emu	s/l\[warp\]\[lane\]\[h\] \*= alpha\[lane\]\[h\];/;/"                         # no rescale of the sums
    "$emu	s/o\[warp\]\[lane\]\[nt\]\[2\] \*= alpha\[lane\]\[1\];/;/"                  # no rescale of O (rows g + 8, one column)
    "$emu	s/if (j + 1 < ntiles) load_all(T::K_OFFSET,/if (j + 1 < ntiles) load_all(T::V_OFFSET,/" # next K into the live V buffer
    "$emu	s/^                barrier();$//"                                                  # no barrier at the loop's top
    "$emu	s/^            for (int tid = 0; tid < TF_ATTN_THREADS; tid++) wait_all(tid);$//"  # no wait for V before P V
)
status=0
for i in "${!mutants[@]}"; do
    file="${mutants[$i]%%	*}" expr="${mutants[$i]#*	}"
    mkdir -p "$work/m$i"
    cp "$layout" "$work/m$i/layout.cuh"
    cp "$emu" "$work/m$i/emulate.cpp"
    target="$work/m$i/$([[ "$file" == "$layout" ]] && echo layout.cuh || echo emulate.cpp)"
    sed -i -e "$expr" "$target"
    if cmp -s "$target" "$file"; then echo "mutant $i did not apply: $expr"; status=1; continue; fi
    if ! build "$work/m$i/layout.cuh" "$work/m$i/emulate.cpp" "$work/m$i/emulate" -w -DTF_ATTN_QUICK 2> "$work/m$i/build.log"; then
        echo "mutant $i: does not compile (counts as caught)"; continue
    fi
    if "$work/m$i/emulate" > "$work/m$i/out" 2>&1; then
        echo "mutant $i SURVIVED: $expr"; status=1
    else
        echo "mutant $i caught: $(grep -m1 FAIL "$work/m$i/out" | sed 's/^FAIL [^ ]* //' | cut -c1-120)"
    fi
done
exit $status
