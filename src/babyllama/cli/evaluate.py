"""`babyllama evaluate MODEL --task A,B,...`: score a model on several tasks, each with baselines and
bootstrap 95% CIs; one JSON results record per run, the predictions as JSONL.

    babyllama evaluate runs/multitask/model --task squad,cnn_dm,sst,mmlu,wikitext --out eval/mt.json
    babyllama evaluate runs/base/model --task mmlu --n all --mmlu-shots 0 --mmlu-score text
    babyllama evaluate runs/story_sft/model --task story-instructions --n 200 --out sft.json

Tasks (eval/tasks.py; default subset in brackets, chosen to keep each under ~10 minutes on one core
for a model of up to a few million parameters):
  story-instructions  held-out verifiable story instructions [200 prompts]
  squad               SQuAD v1.1, test articles of the shared subset: exact match, F1 [all 109 questions]
  cnn_dm              CNN/DailyMail test rows: ROUGE-1/2/L/Lsum, BLEU [all 50 articles]
  sst                 SST-5 test, sentiment as a generated label word: accuracy [500 of 2,210]
  cfimdb              CFIMDB dev (the shared test labels are hidden): accuracy [all 245]
  mmlu                57 subjects, letter log-probability, 0- or 5-shot: accuracy [10 per subject = 570]
  wikitext            WikiText-2 wiki.test.raw: token/word perplexity, bits per byte [all 2,891 lines]
--n takes one number for every task, `all`, or per task: --n squad=50,mmlu=all. Subsets are drawn
at random with --data-seed (files sorted by label still give fair subsets), and the output says so.
Data defaults to ../shared/data ($BABYLLAMA_SHARED_DATA); --file gives a path (one task) or
task=path pairs. Decoding is greedy with per-task max new tokens (squad 24, cnn_dm 128, sst/cfimdb 4,
story-instructions 200) unless --max-new-tokens is given.
With --out FILE the record goes to FILE and each task's predictions to FILE's stem + .TASK.jsonl
(or to --predictions DIR/TASK.jsonl).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from babyllama.cli.common import add_device_argument, add_threads_argument, cli_threads, device_from_args
from babyllama.cli.generate import add_generation_arguments, config_from_args as generation_config
from babyllama.utils.io import BabyLlamaError, atomic_write_json, atomic_write_text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("\n\n", 1)[1]
    parser.add_argument("model", help="model folder")
    parser.add_argument("--task", required=True, help="task name(s), comma-separated (see below)")
    parser.add_argument("--n", default=None, help="examples per task (mmlu: per subject; wikitext: first lines): N, "
                                                  "'all', or task=N,... (default: each task's subset, listed below)")
    parser.add_argument("--file", help="the task's data: a path (one task) or task=path,... (default: the shared copy)")
    parser.add_argument("--split", choices=("train", "dev", "test", "all"),
                        help="split of squad/cnn_dm/sst/cfimdb to score (default test; cfimdb: dev, as the shared "
                             "copy's test labels are hidden)")
    parser.add_argument("--data-seed", type=int, default=0, help="seed of data splits and built-in sets (default 0)")
    parser.add_argument("--mmlu-shots", type=int, default=5, help="MMLU few-shot examples from dev, 0-5 (default 5)")
    parser.add_argument("--mmlu-score", choices=("letter", "text"), default="letter",
                        help="letter: the answer letter's log-prob; text: also each choice's full text "
                             "(default letter)")
    parser.add_argument("--context", type=int, help="wikitext window (default: the model's max_seq_len)")
    parser.add_argument("--stride", type=int, help="wikitext window step (default: context // 2)")
    parser.add_argument("--out", help="write the results record (JSON) here")
    parser.add_argument("--predictions", metavar="DIR", help="write each task's predictions to DIR/TASK.jsonl")
    parser.add_argument("--record", metavar="RUN_DIR", help="also append the results to RUN_DIR/record.json")
    parser.add_argument("--batch-size", type=int, default=32, help="prompts decoded together (default 32)")
    add_device_argument(parser)
    add_threads_argument(parser)
    add_generation_arguments(parser)
    parser.set_defaults(max_new_tokens=None)
    for action in parser._actions:
        if action.dest == "max_new_tokens":
            action.help = "tokens to generate (default: per task)"


def parse_per_task(value: str | None, tasks: list[str], flag: str) -> dict[str, str]:
    """'X' -> every task gets X; 'a=X,b=Y' -> per task (tasks not named get nothing)."""
    if value is None:
        return {}
    if "=" not in value:
        return {t: value for t in tasks}
    out = {}
    for part in value.split(","):
        name, sep, v = part.partition("=")
        if not sep or name.strip() not in tasks:
            raise BabyLlamaError(f"{flag} {value!r}: {part!r} is not TASK=VALUE for one of the tasks asked "
                                 f"({', '.join(tasks)})")
        out[name.strip()] = v.strip()
    return out


def _count(text: str, name: str) -> int | None:
    if text == "all":
        return None
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise BabyLlamaError(f"--n {text!r} for {name}: give a number >= 1 or 'all'")
    return n


def _predictions_path(args: argparse.Namespace, task: str) -> Path | None:
    if args.predictions:
        return Path(args.predictions) / f"{task}.jsonl"
    if args.out:
        out = Path(args.out)
        return out.with_name(f"{out.stem}.{task}.jsonl")
    return None


def run(args: argparse.Namespace) -> int:
    from babyllama.eval.tasks import format_report, get_task, results_rows, run_task
    from babyllama.loading import load
    from babyllama.report.records import add_evaluation, hardware

    tasks = [t.strip() for t in args.task.split(",") if t.strip()]
    if not tasks:
        raise BabyLlamaError("--task: give at least one task name")
    for t in tasks:
        get_task(t)
    counts = {t: _count(v, t) for t, v in parse_per_task(args.n, tasks, "--n").items()}
    if args.file and "=" not in args.file and len(tasks) > 1:
        raise BabyLlamaError(f"--file {args.file!r}: several tasks asked; give task=path pairs (squad=FILE,mmlu=DIR)")
    files = parse_per_task(args.file, tasks, "--file")
    if args.record and not Path(args.record).is_dir():
        raise BabyLlamaError(f"--record {args.record}: run folder not found")
    max_new = args.max_new_tokens
    args.max_new_tokens = max_new or 128
    config = generation_config(args)
    options = {"split": args.split, "max_new_tokens": max_new, "shots": args.mmlu_shots, "score": args.mmlu_score,
               "context": args.context, "stride": args.stride}
    loaded = load(args.model, device=device_from_args(args))
    record = {"model": str(args.model), "tasks_asked": tasks,
              "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "results": [], "tasks": {}}
    with cli_threads(args, loaded.model):
        record["machine"] = hardware(device_from_args(args))
        for name in tasks:
            n = counts[name] if name in counts else get_task(name).default_n
            report = run_task(name, loaded.model, loaded.tokenizer, n=n, path=files.get(name), seed=args.data_seed,
                              config=config, batch_size=args.batch_size, options=options)
            print(format_report(report) + "\n", flush=True)
            rows = report.pop("rows", [])
            where = _predictions_path(args, name)
            if where is not None:
                where.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_text(where, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
                report["predictions"] = str(where)
            record["results"].extend(results_rows(report))
            record["tasks"][name] = report
    if args.out:
        atomic_write_json(args.out, record)
        print(f"results -> {args.out}", file=sys.stderr)
    else:
        print("(add --out FILE to keep the results record and the predictions)", file=sys.stderr)
    if args.record:
        add_evaluation(args.record, "evaluate", record)
    return 0
