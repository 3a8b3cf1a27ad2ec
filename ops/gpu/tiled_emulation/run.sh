#!/usr/bin/env bash
# Builds and runs the host emulation of tf_w2a8_gemm_tiled (emulate.cpp: the kernel's index arithmetic from
# kernels/cuda/w2a8_tiled_layout.cuh, the PTX semantics of its instructions, bit-exact against
# Sources/CCUDA/w2a8_reference.c). No GPU, no CUDA needed: g++ and gcc only. Exits non-zero on any mismatch.
#
#   bash ops/gpu/tiled_emulation/run.sh            the emulation (a few seconds)
#   bash ops/gpu/tiled_emulation/run.sh --mutants  also: each of a list of one-line breakages of the layout
#                                                  header must make the emulation fail (the checks have teeth)
set -euo pipefail
cd "$(dirname "$0")/../../.."
mode="${1:-}"
[[ -z "$mode" || "$mode" == --mutants ]] || { echo "usage: $0 [--mutants]" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
layout=kernels/cuda/w2a8_tiled_layout.cuh
build() {  # build LAYOUT-HEADER OUTPUT
    g++ -O2 -std=c++17 -ffp-contract=off -Wall -Wextra -Wno-comment -ISources/CCUDA/include -DTF_TILED_LAYOUT="\"$1\"" \
        ops/gpu/tiled_emulation/emulate.cpp "$work/reference.o" -o "$2" -lm
}
gcc -O2 -std=gnu11 -ffp-contract=off -ISources/CCUDA/include -c Sources/CCUDA/w2a8_reference.c -o "$work/reference.o"
build "$PWD/$layout" "$work/emulate"
"$work/emulate"
[[ "$mode" == --mutants ]] || exit 0

# Each entry: FILE<TAB>sed expression; FILE is the layout header (the kernel's index arithmetic) or the emulator
# (its copy of the kernel's control flow, to show the pipeline hazards are detected). Each must fail.
emu=ops/gpu/tiled_emulation/emulate.cpp
mutants=(
    "$layout	s/((c ^ (r \& 7)) << 4)/(c << 4)/"                                  # no A swizzle: ldmatrix bank conflicts
    "$layout	s/((h ^ ((n >> 2) \& 1)) << 4)/(h << 4)/"                           # no W swizzle: B-load bank conflicts
    "$layout	s/((c ^ (r \& 7)) << 4)/((c ^ ((r >> 1) \& 7)) << 4)/"              # a swizzle on the wrong row bits
    "$layout	s/(j \& 1) \* 8 + (lane \& 7)/(j >> 1) * 8 + (lane \& 7)/"          # ldmatrix matrices 1 and 2 swapped
    "$layout	s/ks \* 2 + (j >> 1)/ks * 2 + (j \& 1)/"                            # ldmatrix k halves from the wrong bit
    "$layout	s/return (word >> (2 \* ks))/return (word >> ks)/"                  # wrong decode shift
    "$layout	s/2 \* (lane \& 3) + (i \& 1)/(lane \& 3) + 4 * (i \& 1)/"          # wrong C columns
    "$layout	s/(lane >> 2) + (i >> 1) \* 8/(lane >> 2) + (i \& 1) * 8/"          # wrong C rows
    "$layout	s/(tid >> 3) + i \* (TF_TILED_THREADS \/ 8)/(tid >> 3) + i * 16/"   # A copies overlap
    "$layout	s/const bool inside = m0 + r < M;/const bool inside = m0 + r <= M;/" # reads row M
    "$layout	s/(inside ? n0 + n : 0) \* (KP \/ 4)/(inside ? n0 + n : 0) * (KP \/ 8)/" # wrong W row pitch
    "$layout	s/copy.bytes = inside ? 16u : 0u;/copy.bytes = 16u;/"               # no zero fill
    "$layout	s/+ 4 \* (lane \& 3);/+ 4 * (lane >> 3);/"                          # B word from the wrong lane bits
    "$layout	s/(warp % TF_TILED_WARPS_N) \* TF_TILED_WN/(warp % TF_TILED_WARPS_N) * 32/" # warps overlap in N
    "$emu	s/load_stage(tid, stage ^ 1, kb + 1)/load_stage(tid, stage, kb + 1)/"     # next stage into the live buffer
    "$emu	s/^            barrier();$//"                                            # no barrier before the reads
    "$emu	s/^            for (int tid = 0; tid < TF_TILED_THREADS; tid++) wait_all(tid);$//" # no cp.async wait
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
    if ! g++ -O2 -std=c++17 -ffp-contract=off -w -ISources/CCUDA/include -DTF_TILED_LAYOUT="\"$work/m$i/layout.cuh\"" \
            "$work/m$i/emulate.cpp" "$work/reference.o" -o "$work/m$i/emulate" -lm 2> "$work/m$i/build.log"; then
        echo "mutant $i: does not compile (counts as caught)"; continue
    fi
    if "$work/m$i/emulate" > "$work/m$i/out" 2>&1; then
        echo "mutant $i SURVIVED: $expr"; status=1
    else
        echo "mutant $i caught ($expr): $(grep -m1 FAIL "$work/m$i/out" | sed 's/^FAIL [^ ]* //' | cut -c1-110)"
    fi
done
exit $status
