"""Loading policies: any Hugging Face causal LM, or the embedded default (built once, cached).

`load_model_and_tokenizer("embedded")` and `load_model_and_tokenizer("Qwen/Qwen2.5-7B-Instruct")`
take the same path through `from_pretrained`; the embedded name only resolves to a local directory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from logicrl.errors import UserError, first_line

EMBEDDED = "embedded"

# LoRA targets by model family (`config.model_type`). Phi-3 fuses q/k/v and gate/up projections.
_LORA_TARGETS = {
    "phi3": ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"],
    "phimoe": ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"],
    **{
        family: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
        for family in ("llama", "qwen2", "qwen3", "mistral", "mixtral", "gemma", "gemma2", "gemma3_text")
    },
}


def cache_dir() -> Path:
    """Where built artefacts live: `$LOGICRL_CACHE`, else `$XDG_CACHE_HOME/logicrl`, else ~/.cache/logicrl."""
    if os.environ.get("LOGICRL_CACHE"):
        return Path(os.environ["LOGICRL_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "logicrl"


def embedded_model_path(spec=None) -> Path:
    """The directory of the embedded default model, building it on first use.

    The directory is named by a hash of the build recipe, spec and tokenizer corpus, so a changed
    recipe builds a new one. The build goes to a temporary directory that is renamed into place, so
    two processes racing both end up with the same complete directory.
    """
    from logicrl.embedded import EmbeddedSpec, build_embedded, build_fingerprint, training_corpus

    spec = spec or EmbeddedSpec()
    corpus = training_corpus(spec)
    root = cache_dir()
    final = root / f"embedded-{build_fingerprint(spec, corpus)}"
    if (final / "config.json").is_file():
        return final
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".embedded-build-", dir=root))
    try:
        build_embedded(tmp, spec, corpus)
        if final.exists() and not (final / "config.json").is_file():
            # A half-built leftover (killed build, full disk): it can never become valid, replace it.
            shutil.rmtree(final, ignore_errors=True)
        try:
            os.rename(tmp, final)
        except OSError:
            # Another process finished first (the target exists and is not empty): use theirs.
            if not (final / "config.json").is_file():
                raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(tmp)
    return final


def resolve_model_path(name_or_path: str | os.PathLike) -> str:
    """`"embedded"` -> the cached directory; an existing local path -> itself; else a hub id.

    A string that looks like a local path (starts with `.`, `/` or `~`, or exists partly) but is not a
    directory is an error here rather than a confusing hub lookup later, and so is a directory without a
    model (no config.json or adapter_config.json; a routed run's final/ is named as such).
    """
    name = str(name_or_path)
    if name == EMBEDDED:
        return str(embedded_model_path())
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file() and not (path / "adapter_config.json").is_file():
            if (path / "routing.json").is_file():
                raise UserError(f"model path {name!r} holds a routed run's adapters (routing.json), not a model: "
                                f"evaluate it with --adapters {name}, or merge one route with `logicrl export "
                                f"{name} --merge NAME`")
            raise UserError(f"model path {name!r} holds no model (no config.json or adapter_config.json)")
        return str(path)
    if path.exists():
        raise UserError(f"model path {name!r} is a file, expected a model directory")
    looks_local = name.startswith((".", "/", "~")) or name.count("/") > 1 or os.sep == "\\" and "\\" in name
    if looks_local:
        raise UserError(f"model path {name!r} does not exist")
    return name


def load_tokenizer(name_or_path: str | os.PathLike = EMBEDDED):
    """The tokenizer of a model, left-padded for generation, with a pad token."""
    from transformers import AutoTokenizer

    path = resolve_model_path(name_or_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except OSError as exc:
        raise UserError(f"cannot load tokenizer {str(name_or_path)!r}: {first_line(exc)}") from exc
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model_and_tokenizer(
    name_or_path: str | os.PathLike = EMBEDDED,
    adapter: str | os.PathLike | None = None,
    dtype=None,
    device=None,
):
    """Load a causal LM and its tokenizer by hub id, local path or `"embedded"`.

    `adapter`: a peft (LoRA) adapter directory applied on top. `dtype`: a torch dtype or its name
    ("bfloat16", "float32", "auto"); default float32 on CPU. `device`: e.g. "cpu", "cuda:0".
    """
    import torch
    from transformers import AutoModelForCausalLM

    path = resolve_model_path(name_or_path)
    tokenizer = load_tokenizer(path)
    if isinstance(dtype, str) and dtype != "auto":
        try:
            dtype = getattr(torch, dtype)
        except AttributeError:
            raise UserError(f"unknown dtype {dtype!r}") from None
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype or torch.float32)
    except OSError as exc:
        raise UserError(f"cannot load model {str(name_or_path)!r}: {first_line(exc)}") from exc
    if adapter is not None:
        adapter_path = Path(adapter).expanduser()
        if not (adapter_path / "adapter_config.json").is_file():
            raise UserError(f"adapter {str(adapter)!r} is not a peft adapter directory (no adapter_config.json)")
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter_path))
    if device is not None:
        model = model.to(device)
    if model.generation_config is not None and model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def default_lora_targets(model) -> list[str] | str:
    """peft `target_modules` for a model: its family's projections, else "all-linear"."""
    config = getattr(model, "config", model)
    model_type = getattr(config, "model_type", None)
    targets = _LORA_TARGETS.get(model_type)
    return list(targets) if targets else "all-linear"


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


def native_bf16_cpu() -> bool:
    """Whether this CPU computes bfloat16 natively (x86 `avx512_bf16` or `amx_bf16`, read from
    /proc/cpuinfo). Without it torch emulates bfloat16, which is slower than float32."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def bf16_available() -> bool:
    """bfloat16 compute that is faster than float32 here: a CUDA GPU with bf16, or a CPU with native bf16."""
    import torch

    if torch.cuda.is_available():
        return bool(torch.cuda.is_bf16_supported())
    return native_bf16_cpu()
