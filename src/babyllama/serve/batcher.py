"""One worker thread owns the model; requests wait in a bounded queue and requests with the same
settings run together as one batch through `babyllama.decode.generate`.

Why batch: a small model's decode step costs about the same for 1 row as for 8 on a CPU (the time
goes to per-step overhead and reading the weights), so 8 waiting requests finish in little more than
the time of one. Requests batch only when that changes nothing they can see: the same settings, and
no seed unless decoding is greedy (a seeded sample must not depend on what else is in the batch).
"""
from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from babyllama.decode import GenerationConfig, GenerationResult, generate

Event = tuple  # ("text", choice, piece) or ("token", choice, id, logprob, top)


class QueueFull(Exception):
    """The waiting queue is at its bound; the caller answers 503."""


class _Abandoned(Exception):
    """Every request in the running batch went away (clients disconnected)."""


@dataclass(eq=False)
class Job:
    """One request: its prompts (token ids), its settings, and where its results and events go."""

    prompts: list[list[int]]
    cfg: GenerationConfig
    on_event: Callable[[Event], None] | None = None  # called on the worker thread while streaming
    future: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)
    cancelled: bool = False

    @property
    def rows(self) -> int:
        return len(self.prompts) * self.cfg.num_return_sequences

    def batch_key(self) -> GenerationConfig | None:
        """Jobs with equal keys may share a batch; None = runs alone."""
        if self.cfg.num_beams > 1:
            return None
        if self.cfg.greedy:
            return dataclasses.replace(self.cfg, seed=None)
        return self.cfg if self.cfg.seed is None else None


class Batcher:
    """Bounded queue + one worker thread. `submit` never blocks: it queues or raises QueueFull."""

    def __init__(self, model: Any, tokenizer: Any, *, max_batch: int = 8, max_queue: int = 16,
                 batching: bool = True) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.max_batch, self.max_queue, self.batching = max_batch, max_queue, batching
        self.pending: collections.deque[Job] = collections.deque()
        self.cond = threading.Condition()
        self.closed = False
        self.stats = {"served": 0, "batches": 0, "rejected": 0, "abandoned": 0, "running": 0}
        self.thread = threading.Thread(target=self._work, name="babyllama-serve-worker", daemon=True)
        self.thread.start()

    def submit(self, job: Job) -> Job:
        with self.cond:
            if self.closed:
                raise QueueFull("the server is shutting down")
            if any(j.cancelled for j in self.pending):  # clients that left free their places at once
                self.pending = collections.deque(j for j in self.pending if not j.cancelled)
            if len(self.pending) >= self.max_queue:
                self.stats["rejected"] += 1
                raise QueueFull(f"{len(self.pending)} requests are already waiting (limit {self.max_queue})")
            self.pending.append(job)
            self.cond.notify()
        return job

    def status(self) -> dict[str, int]:
        with self.cond:
            return {**self.stats, "queued": len(self.pending)}

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify()
        self.thread.join(timeout=30)

    def _take(self) -> list[Job] | None:
        """The next batch: the oldest live job plus later ones with the same key, up to max_batch rows."""
        with self.cond:
            while True:
                while self.pending and self.pending[0].cancelled:
                    self.pending.popleft()
                if self.pending:
                    break
                if self.closed:
                    return None
                self.cond.wait()
            first = self.pending.popleft()
            batch, rows, key = [first], first.rows, first.batch_key()
            if self.batching and key is not None:
                for job in list(self.pending):
                    if not job.cancelled and job.batch_key() == key and rows + job.rows <= self.max_batch:
                        self.pending.remove(job)
                        batch.append(job)
                        rows += job.rows
            self.stats["running"] = rows
            return batch

    def _work(self) -> None:
        while (batch := self._take()) is not None:
            try:
                self._run(batch)
            finally:
                with self.cond:
                    self.stats["running"] = 0

    def _run(self, jobs: list[Job]) -> None:
        cfg = jobs[0].cfg  # a shared batch is greedy (seed unused) or unseeded sampling: see batch_key
        n = cfg.num_return_sequences
        owner: list[tuple[Job, int]] = []  # result index -> (job, its own result index)
        for job in jobs:
            owner += [(job, k) for k in range(job.rows)]
        streaming = any(j.on_event is not None for j in jobs)

        def send(i: int, event: tuple) -> None:
            job, k = owner[i]
            if all(j.cancelled for j in jobs):
                raise _Abandoned
            if job.on_event is not None and not job.cancelled:
                job.on_event((event[0], k, *event[1:]))

        prompts = [p for j in jobs for p in j.prompts]
        try:
            results: list[GenerationResult] = generate(
                self.model, self.tokenizer, prompts, cfg, batch_size=len(prompts) * n,
                stream=(lambda i, s: send(i, ("text", s))) if streaming else None,
                on_token=(lambda i, t, lp, top: send(i, ("token", t, lp, top))) if streaming else None)
        except _Abandoned:
            with self.cond:
                self.stats["abandoned"] += len(jobs)
            for j in jobs:
                j.future.cancel()
            return
        except Exception as e:  # noqa: BLE001 - handed to every waiting request
            for j in jobs:
                j.future.set_exception(e)
            return
        with self.cond:
            self.stats["served"] += len(jobs)
            self.stats["batches"] += 1
        start = 0
        for j in jobs:
            j.future.set_result(results[start:start + j.rows])
            start += j.rows
