#!/usr/bin/env bash
# base -> SFT -> DPO on verifiable story instructions, scored at each stage (constraint success with
# bootstrap CIs), Alpaca held-out assistant-token loss before and after SFT, and three chat transcripts.
#
#   BASE=runs/quickstart/model bash recipes/chat_study.sh        # BASE: a quickstart-recipe model folder
#
# Stages whose model folder exists are skipped (delete $STUDY to start over).
# ~20 minutes on one CPU core with the settings in recipes/story_sft.toml and story_dpo.toml.
set -euo pipefail
BASE=${BASE:-runs/quickstart/model}
STUDY=${STUDY:-/tmp/chat_study}
ALPACA=${ALPACA:-../shared/data/alpaca/alpaca_data_1k.json}
N_EVAL=${N_EVAL:-200}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
B="python -m babyllama"
mkdir -p "$STUDY"

[ -f "$STUDY/inst/eval.jsonl" ] || $B stories --instructions "$STUDY/inst" --n 2000 --n-eval "$N_EVAL"
python - "$ALPACA" "$STUDY" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
json.dump(rows[:800], open(f"{sys.argv[2]}/alpaca_train.json", "w"))
json.dump(rows[800:], open(f"{sys.argv[2]}/alpaca_val.json", "w"))
PY

[ -d "$STUDY/sft/model" ] || $B sft --config recipes/story_sft.toml train.init_from="$BASE" train.run_dir="$STUDY/sft" \
    align.train_files="$STUDY/inst/sft_train.jsonl,$STUDY/alpaca_train.json" align.val_files="$STUDY/alpaca_val.json" \
    --overwrite --quiet
[ -d "$STUDY/dpo/model" ] || $B dpo --config recipes/story_dpo.toml train.init_from="$STUDY/sft/model" train.run_dir="$STUDY/dpo" \
    align.train_files="$STUDY/inst/pairs_train.jsonl" align.val_files="$STUDY/inst/pairs_val.jsonl" --overwrite --quiet

for stage in base sft dpo; do
    model=$BASE; [ $stage != base ] && model=$STUDY/$stage/model
    $B evaluate "$model" --task story-instructions --file "$STUDY/inst/eval.jsonl" --n "$N_EVAL" \
        --threads 1 --out "$STUDY/eval_$stage.json"
done

for stage in sft dpo; do
    printf '%s\n' "Write a story about a girl named Mia at the beach that uses the words 'kite' and 'brave' and ends happily." \
        "/reset" "Tell me a short story about a dog named Max in the park. Use the words 'ball' and 'mud'." \
        "/reset" "Please write a children's story about a fox named Ruby in the forest. It must use the words 'berries' and 'river' and end happily." \
        | $B chat "$STUDY/$stage/model" --threads 1 --max-new-tokens 200 > "$STUDY/chat_$stage.txt"
done
echo "study in $STUDY: eval_{base,sft,dpo}.json, chat_{sft,dpo}.txt, sft/ and dpo/ run folders"
