#!/usr/bin/env bash
# GPU smoke test of the training loop's CUDA paths: 20 steps with bf16 autocast, fused AdamW and
# torch.compile on one GPU; with two or more GPUs also FSDP2 (bf16 compute, fp32 gradient reduction)
# on 2 GPUs for 10 steps with a sharded checkpoint, resumed on 1 GPU to step 20. A few minutes.
#
#   bash recipes/gpu_smoke.sh [OUT_DIR]        (default /tmp/babyllama_gpu_smoke; it is replaced)
#
# Prints one line per run and "gpu smoke test: ok" when every loss is finite and the last training
# loss is below the first; exits non-zero otherwise.
set -euo pipefail
OUT=${1:-/tmp/babyllama_gpu_smoke}
PY=${PYTHON:-python}
NGPU=$($PY -c "import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)")
if [ "$NGPU" -lt 1 ]; then echo "gpu smoke test: no CUDA GPU visible" >&2; exit 1; fi
rm -rf "$OUT"; mkdir -p "$OUT"

$PY -m babyllama prepare --source builtin --builtin-stories 4000 --vocab-size 1024 --out "$OUT/data" --quiet
COMMON=(data.data_dir="$OUT/data" model.dim=288 model.n_layers=6 model.n_heads=6 data.seq_len=256
        data.batch_size=32 optim.warmup_steps=5 optim.lr=1e-3 train.log_every=5 train.eval_every=10
        train.eval_batches=4 train.device=cuda train.precision=bf16 optim.name=adamw train.compile=true
        train.num_samples=1 train.sample_tokens=32)

$PY -m babyllama pretrain --quiet "${COMMON[@]}" optim.max_steps=20 train.run_dir="$OUT/one_gpu"
RUNS=("$OUT/one_gpu")
if [ "$NGPU" -ge 2 ]; then
  # the schedule is set for 20 steps; the run stops at step 10 with a checkpoint written by 2 ranks
  $PY -m torch.distributed.run --standalone --nproc-per-node 2 -m babyllama pretrain --quiet "${COMMON[@]}" \
      optim.max_steps=10 train.parallel=fsdp train.run_dir="$OUT/fsdp"
  $PY -m babyllama pretrain --quiet --resume "$OUT/fsdp" optim.max_steps=20
  RUNS+=("$OUT/fsdp")
fi

$PY - "${RUNS[@]}" <<'PYEOF'
import json, math, sys
ok = True
for run in sys.argv[1:]:
    rows = [json.loads(line) for line in open(f"{run}/metrics.jsonl")]
    losses = [r["loss"] for r in rows if "loss" in r]
    vals = [r["val_loss"] for r in rows if "val_loss" in r]
    speed = [r["tokens_per_s"] for r in rows if r.get("tokens_per_s")]
    good = all(math.isfinite(x) for x in losses + vals) and len(losses) >= 2 and losses[-1] < losses[0]
    ok &= good
    print(f"{run}: steps {rows[-1]['step']}, train loss {losses[0]:.3f} -> {losses[-1]:.3f}, "
          f"val loss {vals[-1]:.3f}, {max(speed):,.0f} tokens/s  {'ok' if good else 'FAILED'}")
print("gpu smoke test:", "ok" if ok else "FAILED")
sys.exit(0 if ok else 1)
PYEOF
