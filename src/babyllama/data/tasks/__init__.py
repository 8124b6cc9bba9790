"""Tasks for finetuning and scoring: SQuAD, CNN/DailyMail, SST-5, CFIMDB as instruction -> answer examples.

    from babyllama.data.tasks import load_task, render_example, render_prompt
    train = load_task("squad", split="train")           # [TaskExample, ...]
    ids, labels = render_example(train[0], tokenizer, max_len=512)
    prompt = render_prompt(train[0], tokenizer, max_len=512, reserve=32)

`readers.py` reads the files and splits them, `render.py` turns an example into chat-template
tokens (the input is cut to fit, the answer never), `mixture.py` samples training batches from
several tasks by weight.
"""
from babyllama.data.tasks.readers import SPLITS, TASK_FORMATS, TaskFormat, label_names, load_task, shared_data, \
    split_keys
from babyllama.data.tasks.render import TaskExample, render_example, render_prompt, render_rows

__all__ = ["SPLITS", "TASK_FORMATS", "TaskExample", "TaskFormat", "label_names", "load_task", "render_example",
           "render_prompt", "render_rows", "shared_data", "split_keys"]
