#!/usr/bin/env bash
# Prepares what ops/gpu/check.sh carries to the GPU machine, which has no Swift toolchain, no Debian -dev
# libraries and no package index:
#   .build-gpu/bundle.tar.xz  a release `ternflux` built with the Swift runtime linked in (--static-swift-stdlib),
#                             stripped, and the shared libraries it loads except glibc's own (librdkafka, libpq,
#                             OpenBLAS and theirs); check.sh unpacks it and runs bin/ternflux with LD_LIBRARY_PATH=lib.
#   .whl/                     the diffusers wheel (and importlib_metadata) for the bf16 side of the benchmarks;
#                             the machine's Python 3.12 has torch, transformers and safetensors but not diffusers.
# Then, with the device tool: run("bash ops/gpu/check.sh", carry: [".build-gpu/bundle.tar.xz", ".whl"]).
set -euo pipefail
cd "$(dirname "$0")/../.."
[[ -d /opt/swift/usr/bin ]] && export PATH=/opt/swift/usr/bin:$PATH
# The static Foundation links libcurl and libxml2 (FoundationNetworking, FoundationXML): their -dev packages.
if ! dpkg -s libcurl4-openssl-dev libxml2-dev > /dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends libcurl4-openssl-dev libxml2-dev > /dev/null
fi
swift build -c release --static-swift-stdlib --product ternflux
bin="$(swift build -c release --static-swift-stdlib --show-bin-path)/ternflux"
stage=.build-gpu/bundle
rm -rf "$stage" .build-gpu/bundle.tar.xz
mkdir -p "$stage/bin" "$stage/lib"
cp "$bin" "$stage/bin/ternflux"
strip "$stage/bin/ternflux"
# glibc's libraries stay the machine's: its glibc is at least as new as bookworm's 2.36 (Ubuntu 24.04, 2.39).
ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | while read -r lib; do
    case "$(basename "$lib")" in
        libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|ld-linux*|libresolv.so*|libutil.so*) ;;
        *) cp -L "$lib" "$stage/lib/" ;;
    esac
done
tar -C .build-gpu -cJf .build-gpu/bundle.tar.xz bundle
# What travels with the bundle: the tracked tree (and untracked files git does not ignore), 64 MiB in all.
tree=$( { git ls-files -z; git ls-files -z --others --exclude-standard; } | xargs -0 stat -c %s 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
bundle=$(stat -c %s .build-gpu/bundle.tar.xz)
echo "the tree is $((tree / 1048576)) MiB, the bundle $((bundle / 1048576)) MiB: $(((tree + bundle) / 1048576)) of the device tool's 64 MiB"
if (( tree + bundle > 63 * 1048576 )); then
    echo "the tree and the bundle would pass the device tool's limit: carry less" >&2
    exit 1
fi
echo "wrote .build-gpu/bundle.tar.xz ($(du -h .build-gpu/bundle.tar.xz | cut -f1)): $(ls "$stage/lib" | tr '\n' ' ')"
mkdir -p .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .whl diffusers==0.42.1 importlib_metadata==10.2.0
echo "wheels in .whl: $(ls .whl | tr '\n' ' ')"
