#!/usr/bin/env bash
# The multitask study: a small base model of ours (TinyStories + WikiText-2 validation text), finetuned
# on SQuAD + CNN/DailyMail + SST-5 mixed, and on SQuAD alone with the same steps; every model scored by
# `babyllama evaluate` on the held-out test splits with the baselines beside the scores.
#
#   bash recipes/multitask_study.sh            # STUDY=/tmp/multitask_study; stages already done are skipped
#
# About 25 CPU-minutes on one core (base 160 steps, two finetunes of 150 steps, three evaluations).
set -euo pipefail
STUDY=${STUDY:-/tmp/multitask_study}
SHARED=${SHARED:-../shared/data}
export OMP_NUM_THREADS=1
B="python -m babyllama"
N=${N:-all}                      # every test example: ~1 CPU-minute per model
mkdir -p "$STUDY"

[ -f "$STUDY/data/manifest.json" ] || $B prepare --source "$SHARED/tinystories/TinyStories-train-head.txt" \
    "$SHARED/wikitext2/wiki.valid.tokens" --out "$STUDY/data" --vocab-size 2048 --workers 1 --quiet
[ -d "$STUDY/base/model" ] || $B pretrain --config recipes/multitask_base.toml data.data_dir="$STUDY/data" \
    train.run_dir="$STUDY/base" --overwrite --quiet
[ -d "$STUDY/mixed/model" ] || $B multitask --config recipes/multitask.toml --base "$STUDY/base/model" \
    train.run_dir="$STUDY/mixed" --overwrite --quiet
[ -d "$STUDY/squad_only/model" ] || $B multitask --config recipes/multitask.toml --base "$STUDY/base/model" \
    --tasks squad train.run_dir="$STUDY/squad_only" --overwrite --quiet

for stage in base mixed squad_only; do
    [ -f "$STUDY/eval_$stage.json" ] || $B evaluate "$STUDY/$stage/model" --task squad,cnn_dm,sst --n "$N" \
        --threads 1 --out "$STUDY/eval_$stage.json"
done
echo "study in $STUDY: base/, mixed/, squad_only/ run folders (metrics.jsonl: val/<task>/loss), eval_*.json"
