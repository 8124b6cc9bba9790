"""babyllama's own files on disk, and nothing foreign:

- `model_dir`: a model folder (config.json + model.safetensors + tokenizer.model or tokenizer.json);
- `run_dir`: a training run folder's layout (checkpoints/step_N, the `latest` pointer, model/) and
  the resumable state saved in each checkpoint.

Both training and decoding sit above this package; other projects' formats live in `interop/`.
"""
from babyllama.checkpoint.model_dir import load_model_dir, read_model_config, save_model  # noqa: F401
