#!/bin/bash
# Sentiment classification runs for one base model: prompting (sum, mean) and finetuning (head, full; 3 seeds)
# on SST-5 and CFIMDB.  usage: recipes/sentiment.sh MODEL TAG [TOKENIZER]   (outputs in ./TAG/, logs in ./TAG/*.log)
# Full-model epochs: SST_EPOCHS (default 4), CFIMDB_EPOCHS (default 8). Data: DATA (default ../shared/data).
set -e
M=$1; TAG=$2; TOK=${3:+--tokenizer $3}
D=${DATA:-$(cd "$(dirname "$0")/../.." && pwd)/shared/data}   # ../shared/data beside the repo
mkdir -p $TAG
c="babyllama classify"
t="/usr/bin/time -f wall_%e_s"
for norm in sum mean; do
  $t $c prompt --model $M $TOK --data $D/sst --normalize $norm --batch-size 32 --threads 1 --out $TAG/sst-prompt-$norm > $TAG/sst-prompt-$norm.log 2>&1
  $t $c prompt --model $M $TOK --data $D/cfimdb --normalize $norm --batch-size 16 --max-len 256 --threads 1 --out $TAG/cfimdb-prompt-$norm > $TAG/cfimdb-prompt-$norm.log 2>&1
done
$t $c finetune --model $M $TOK --data $D/sst --mode head --epochs 10 --lr 3e-3 --batch-size 32 --seeds 3 --threads 1 --out $TAG/sst-finetune-head > $TAG/sst-finetune-head.log 2>&1
$t $c finetune --model $M $TOK --data $D/cfimdb --mode head --epochs 10 --lr 3e-3 --batch-size 16 --max-len 256 --seeds 3 --threads 1 --out $TAG/cfimdb-finetune-head > $TAG/cfimdb-finetune-head.log 2>&1
$t $c finetune --model $M $TOK --data $D/sst --mode full --epochs ${SST_EPOCHS:-4} --lr 1e-3 --batch-size 32 --seeds 3 --threads 1 --out $TAG/sst-finetune-full > $TAG/sst-finetune-full.log 2>&1
$t $c finetune --model $M $TOK --data $D/cfimdb --mode full --epochs ${CFIMDB_EPOCHS:-8} --lr 1e-3 --batch-size 16 --max-len 256 --seeds 3 --threads 1 --out $TAG/cfimdb-finetune-full > $TAG/cfimdb-finetune-full.log 2>&1
python - "$TAG" <<'PY'
import json, sys, pathlib
for p in sorted(pathlib.Path(sys.argv[1]).glob("*/results.json")):
    r = json.loads(p.read_text())
    for s, v in r["results"].items():
        b = r["baselines"][s]
        print(f"{p.parent.name:24s} {s:5s} {v['mean']:.3f} ± {v['std']:.3f} [{v['ci95_low']:.3f}-{v['ci95_high']:.3f}] "
              f"chance {b['chance']:.3f} majority {b['majority']:.3f}{'  (placeholder labels)' if b['labels_constant'] else ''} "
              f"{r['seconds']:.0f}s")
PY
