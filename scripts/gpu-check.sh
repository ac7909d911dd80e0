#!/usr/bin/env bash
# The GPU path end to end, on a machine with an NVIDIA GPU, CUDA, cmake and g++ (no Node, no network needed).
#
#   scripts/gpu-check.sh pack   (here, after `npm ci`) stages what the GPU machine lacks in .gpu/: Node (from
#                               $NODE_XZ, default ../shared/tools/node-linux-x64.xz) and llama.cpp's source, taken
#                               from node-llama-cpp's gitRelease.bundle (the pinned release), and prints what to carry.
#   scripts/gpu-check.sh run    (there) builds libllama with CUDA from that source (-DGGML_CUDA=ON, sm_90), loads it
#                               through the addon built here (it dlopen()s whatever libllama it is given), and runs:
#     1. plan --verify --gpu cuda on the Nemotron 3 Nano twin at 1,048,576 tokens x 8 slots (one shared pool), and
#        the pre-fix allocation (8 streams x 1,048,576 cells) allocated for real, to show the 8x;
#     2. scripts/gpu-conformance.mjs: batched == solo, prefix-cache resume == from scratch, preemption by swap;
#     3. hybrid-llm bench on CUDA beside llama.cpp's own llama-batched-bench (same build, file, batch shape);
#     4. the sampled serving path on the realistic vocabulary (real-vocab, 131,072 tokens, 8 slots): greedy vs
#        temperature 0.8 / top-p 0.95, alternated, with the JavaScript share of step time.
# Every step runs whatever failed before it; logs and a summary go to $OUT (default /tmp/gpu-check).
# GPU_CHECK_API=cpu runs the same steps on a CPU build (to rehearse the script on a machine without a GPU).
# GPU_CHECK_STEPS picks steps (default: "plan prefix conformance bench sampling peer"); GPU_CHECK_BENCH_ARGS adds options
# to every bench run (e.g. "--temperature 0.8 --top-p 0.95" for the sampled path); GPU_CHECK_FIXTURES the fixture
# profiles bench and peer run on (default: "bench-60m nemotron-3-nano-twin").
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
api=${GPU_CHECK_API:-cuda}
ctx=${GPU_CHECK_CTX:-1048576}
jobs=${GPU_CHECK_JOBS:-$(nproc)}
steps=" ${GPU_CHECK_STEPS:-plan prefix conformance bench sampling peer} "
benched=${GPU_CHECK_FIXTURES:-bench-60m nemotron-3-nano-twin}
wants() { [[ $steps == *" $1 "* ]]; }
started=$(date +%s)
step() { echo; echo "=== [+$(($(date +%s) - started)) s] $*"; }

pack() {
  local node_xz=${NODE_XZ:-$root/../shared/tools/node-linux-x64.xz}
  mkdir -p .gpu
  grep -qxF '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >>"$(git rev-parse --git-path info/exclude)"
  cp "$node_xz" .gpu/node.xz
  local bundle=node_modules/node-llama-cpp/llama/gitRelease.bundle tmp
  tmp=$(mktemp -d)
  git clone --quiet --no-checkout "$bundle" "$tmp/llama.cpp"
  # Only what a libllama + llama-batched-bench build reads (no models, docs, tests, web UI).
  git -C "$tmp/llama.cpp" archive HEAD CMakeLists.txt cmake ggml src include common vendor tools licenses LICENSE | gzip -6 >.gpu/llama.cpp.tgz
  rm -rf "$tmp"
  ls -la .gpu
  echo "carry: .gpu packages/core/dist packages/node/dist packages/node/build packages/server/dist packages/wasm/dist"
}

run() {
  mkdir -p "${OUT:=/tmp/gpu-check}"
  local bin=$root/.gpu/bin src=$root/build/llama.cpp-src lib=$root/build/llama-$api
  step "machine"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 || true
  (nvcc --version 2>/dev/null | tail -2; cmake --version | head -1; g++ --version | head -1; nproc) 2>&1

  step "node"
  if ! command -v node >/dev/null; then
    mkdir -p "$bin" && xz -dc .gpu/node.xz >"$bin/node" && chmod +x "$bin/node"
    export PATH=$bin:$PATH
  fi
  node --version
  # The workspace links npm would make (the dist files import @hybrid-llm/*).
  mkdir -p node_modules/@hybrid-llm
  for p in core node server wasm; do [ -e node_modules/@hybrid-llm/$p ] || ln -s ../../packages/$p node_modules/@hybrid-llm/$p; done

  step "libllama ($api) from node-llama-cpp's llama.cpp source"
  local flags=(-DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
    -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_HTML=OFF)
  [ "$api" = cuda ] && flags+=(-DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90)
  if [ ! -f "$lib/bin/.built" ]; then
    rm -rf "$src" && mkdir -p "$src" && tar xzf .gpu/llama.cpp.tgz -C "$src"
    cmake -S "$src" -B "$lib" "${flags[@]}" >"$OUT/cmake-configure.log" 2>&1 || { tail -30 "$OUT/cmake-configure.log"; return 1; }
    local targets=(llama)
    wants peer && targets+=(llama-batched-bench)
    cmake --build "$lib" --target "${targets[@]}" -j "$jobs" >"$OUT/cmake-build.log" 2>&1 || { tail -40 "$OUT/cmake-build.log"; return 1; }
    touch "$lib/bin/.built"
  fi
  ls "$lib/bin"
  export HYBRID_LLM_LIBRARY_DIR=$lib/bin
  local gpu=$([ "$api" = cuda ] && echo cuda || echo off)
  local cli="node packages/server/dist/cli.js" fixtures=$root/.cache/gpu
  mkdir -p "$fixtures"
  for f in nemotron-3-nano-twin bench-60m $benched $(wants sampling && echo real-vocab); do [ -f "$fixtures/$f.gguf" ] || $cli fixture $f --out "$fixtures/$f.gguf"; done
  local twin=$fixtures/nemotron-3-nano-twin.gguf

  if wants plan; then
  step "1. plan --verify --gpu $gpu: twin at $ctx tokens x 8 slots, one shared pool"
  $cli plan "$twin" --ctx "$ctx" --slots 8 --verify --gpu "$gpu" 2>&1 | tee "$OUT/plan-unified.txt"
  fi
  if wants prefix; then
  step "1b. the pre-fix allocation for real: 8 streams x $ctx cells (what llama.cpp < PR #19559 gave each slot)"
  $cli plan "$twin" --ctx $((ctx * 8)) --slots 8 --no-unified --verify --gpu "$gpu" 2>&1 | tail -8 | tee "$OUT/plan-prefix.txt"
  fi
  if wants conformance; then
  step "2. conformance on $api: batched == solo, prefix cache, preemption"
  node scripts/gpu-conformance.mjs --model "$twin" --gpu "$gpu" 2>&1 | tee "$OUT/conformance.txt"
  node scripts/gpu-conformance.mjs --model "$fixtures/bench-60m.gguf" --gpu "$gpu" 2>&1 | tee -a "$OUT/conformance.txt"
  fi
  if wants bench; then
  step "3. bench on $api"
  for f in $benched; do
    for n in 8 32; do
      $cli bench --model "$fixtures/$f.gguf" --gpu "$gpu" --slots $n --prompt-tokens 128 --gen-tokens 64 ${GPU_CHECK_BENCH_ARGS:-} 2>&1 | tee -a "$OUT/bench.txt"
    done
  done
  fi
  if wants sampling; then
  step "4. the sampled path on $api: real-vocab (131,072 tokens), 8 slots, greedy vs temperature 0.8 / top-p 0.95"
  # Alternated, so that anything else on the machine slows both alike. (real-vocab at 32 slots trips a CUDA fault in
  # llama.cpp itself, in llama-batched-bench too: see the closing note of stop 19.)
  for round in 1 2; do
    for sampling in "--temperature 0" "--temperature 0.8 --top-p 0.95"; do
      echo "round $round: $sampling"
      $cli bench --model "$fixtures/real-vocab.gguf" --gpu "$gpu" --slots 8 --prompt-tokens 32 --gen-tokens 128 $sampling 2>&1 | tee -a "$OUT/sampling.txt"
    done
  done
  fi
  if wants peer; then
  step "3b. the peer: llama-batched-bench from the same build (-npp 128 -ntg 64, unified KV, all layers on the GPU)"
  if [ ! -x "$lib/bin/llama-batched-bench" ]; then
    cmake --build "$lib" --target llama-batched-bench -j "$jobs" >"$OUT/cmake-build-peer.log" 2>&1 || tail -20 "$OUT/cmake-build-peer.log"
  fi
  for f in $benched; do
    for n in 8 32; do
      "$lib/bin/llama-batched-bench" -m "$fixtures/$f.gguf" -c $((n * 208)) -b 512 -ub 512 -npp 128 -ntg 64 -npl $n -kvu -ngl 99 \
        --output-format jsonl 2>>"$OUT/peer.log" | grep '^{' | sed "s|^|$f |" | tee -a "$OUT/peer.txt"
    done
  done
  fi
  step "done"
}

case "${1:-}" in
  pack) pack ;;
  run) mkdir -p "${OUT:=/tmp/gpu-check}" && run 2>&1 | tee "$OUT/gpu-check.log" ;;
  *) echo "usage: scripts/gpu-check.sh pack|run" >&2; exit 2 ;;
esac
