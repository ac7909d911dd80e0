#!/usr/bin/env bash
# CPU speed measurements on a quiet many-core machine (the device machine's CPUs: no Node, no network, no GPU
# needed), which a shared 2-core machine cannot give (two spinning thread pools on two busy cores time nothing but the
# scheduler): Wasm vs native at 1 and 2 threads (issue #15), and the sampled serving path vs greedy (issue #11).
#
#   scripts/cpu-check.sh pack   (here, after `npm run build`, `node native/build.mjs`, `node wasm/build.mjs`)
#       stages .gpu/node.xz (from $NODE_XZ, default ../shared/tools/node-linux-x64.xz) and .gpu/cpu-bench.tar.xz (the
#       built packages, both Wasm modules, the addon, and the runtime packages they load: node-llama-cpp's x64 CPU
#       libraries, emnapi, wasm-util, jinja), and prints what to carry.
#   scripts/cpu-check.sh run    (there) unpacks them and runs
#       1. scripts/bench-wasm.mjs on F16 / Q8_0 / Q4_0 of bench-60m and the Nemotron 3 Nano twin at 1 and 2 threads
#          (WASM_CHECK_PROFILES, WASM_CHECK_THREADS, WASM_CHECK_TOKENS override);
#       2. scripts/bench-sampling.mjs (real-vocab, 8 slots, greedy vs temperature 0.8 / top-p 0.95) on the native
#          backend at 1 and 2 threads and on Wasm at 1 thread (CPU_CHECK_STEPS="wasm sampling" picks steps);
#       output to $OUT (default /tmp/cpu-check).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

pack() {
  mkdir -p .gpu
  grep -qxF '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >>"$(git rev-parse --git-path info/exclude)"
  [ -f .gpu/node.xz ] || cp "${NODE_XZ:-$root/../shared/tools/node-linux-x64.xz}" .gpu/node.xz
  tar cf - packages/{core,node,server,wasm}/dist packages/node/build/hybrid-llm.node packages/wasm/build \
    node_modules/@node-llama-cpp/linux-x64 node_modules/@emnapi node_modules/@tybys node_modules/@huggingface/jinja node_modules/hono node_modules/@hono \
    | xz -T0 -6 >.gpu/cpu-bench.tar.xz
  ls -la .gpu/node.xz .gpu/cpu-bench.tar.xz
  echo "carry: .gpu/node.xz .gpu/cpu-bench.tar.xz; command: bash scripts/cpu-check.sh run"
}

run() {
  mkdir -p "${OUT:=/tmp/cpu-check}"
  local steps=" ${CPU_CHECK_STEPS:-wasm sampling} "
  echo "=== machine"; nproc; grep -m1 'model name' /proc/cpuinfo; uptime
  mkdir -p .gpu/bin && xz -dc .gpu/node.xz >.gpu/bin/node && chmod +x .gpu/bin/node && export PATH=$root/.gpu/bin:$PATH
  xz -dc .gpu/cpu-bench.tar.xz | tar xf -
  mkdir -p node_modules/@hybrid-llm
  for p in core node server wasm; do [ -e node_modules/@hybrid-llm/$p ] || ln -s ../../packages/$p node_modules/@hybrid-llm/$p; done
  node --version
  if [[ $steps == *" wasm "* ]]; then
  local profiles=${WASM_CHECK_PROFILES:-bench-60m,bench-60m-q8_0,bench-60m-q4_0,nemotron-3-nano-twin,nemotron-3-nano-twin-q8_0,nemotron-3-nano-twin-q4_0}
  echo "=== bench-wasm: $profiles at threads ${WASM_CHECK_THREADS:-1,2}"
  node scripts/bench-wasm.mjs --profiles "$profiles" --threads "${WASM_CHECK_THREADS:-1,2}" --tokens "${WASM_CHECK_TOKENS:-32}"
  fi
  if [[ $steps == *" sampling "* ]]; then
  for threads in 1 2; do
    echo "=== bench-sampling: node, $threads thread(s)"
    node scripts/bench-sampling.mjs --rounds 2 --gen-tokens 128 --backends node --threads $threads
  done
  echo "=== bench-sampling: wasm, 1 thread"
  node scripts/bench-sampling.mjs --rounds 2 --gen-tokens 128 --backends wasm --threads 1
  fi
}

case "${1:-}" in
  pack) pack ;;
  run) mkdir -p "${OUT:=/tmp/cpu-check}" && run 2>&1 | tee "$OUT/cpu-check.log" ;;
  *) echo "usage: scripts/cpu-check.sh pack|run" >&2; exit 2 ;;
esac
