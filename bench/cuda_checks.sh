#!/usr/bin/env bash
# The checks that need a GPU, in one run (used on a lent CUDA machine; see README "Benchmarks").
# Expects python3 with torch+CUDA; pydantic and friends may come as wheels in .whl/.
# Writes JSON results to ${OUT:-bench-out}/.
set -uo pipefail
OUT="${OUT:-bench-out}"; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:.
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"
echo "== Adam core tests (CUDA cases included)"
timeout 150 python3 -m pytest tests/worker/adam -q -x -p no:cacheprovider 2>&1 | tail -6
echo "== engine tests (resources.device=auto picks CUDA here)"
timeout 180 python3 -m pytest tests/worker/engine -q -p no:cacheprovider -m "not slow" 2>&1 | tail -8
echo "== Adam step benchmark on CUDA"
timeout 240 python3 -m bench.adam_step --device cuda --repeats 30 --json "$OUT/adam_step_cuda.json"
echo "== engine vs hand loops on CUDA"
timeout 150 python3 -m bench.engine_throughput --repeats 3 --json "$OUT/engine_cuda.json"
