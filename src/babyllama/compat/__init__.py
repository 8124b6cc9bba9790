"""Drop-in entry points for other projects' scripts (`python -m babyllama.compat.run_llama`)."""
