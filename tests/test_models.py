"""The embedded default model: built locally, cached, loaded through from_pretrained like any model."""

import json

import pytest

from logicrl import models
from logicrl.embedded import THINK_TOKENS, EmbeddedSpec
from logicrl.errors import UserError


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    path = tmp_path_factory.mktemp("logicrl-cache")
    mp.setenv("LOGICRL_CACHE", str(path))
    yield path
    mp.undo()


@pytest.fixture(scope="module")
def embedded(cache):
    return models.embedded_model_path()


def test_embedded_builds_into_cache_and_loads_with_from_pretrained(embedded, cache):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert embedded.parent == cache and embedded.name.startswith("embedded-")
    model = AutoModelForCausalLM.from_pretrained(embedded)
    tok = AutoTokenizer.from_pretrained(embedded)
    cfg = model.config
    assert cfg.model_type == "phi3"
    assert cfg.hidden_size // cfg.num_attention_heads == 64  # vLLM CPU kernels need head size 64
    assert cfg.vocab_size == len(tok)
    meta = json.loads((embedded / "logicrl_embedded.json").read_text())
    assert meta["parameters"] == model.num_parameters()
    # No leftover temporary build directories.
    assert [p.name for p in cache.iterdir() if p.name.startswith(".")] == []


def test_embedded_is_cached_and_deterministic(embedded, tmp_path, monkeypatch):
    assert models.embedded_model_path() == embedded  # second call: same directory, no rebuild
    monkeypatch.setenv("LOGICRL_CACHE", str(tmp_path))
    again = models.embedded_model_path()
    assert again.name == embedded.name
    for name in ("model.safetensors", "tokenizer.json"):
        assert (again / name).read_bytes() == (embedded / name).read_bytes()


def test_a_different_spec_builds_a_different_directory(embedded):
    from logicrl.embedded import build_fingerprint, training_corpus

    spec = EmbeddedSpec(num_hidden_layers=2)
    assert build_fingerprint(spec, training_corpus(spec)) not in embedded.name


def test_losing_a_build_race_uses_the_winners_directory(tmp_path, monkeypatch):
    """When another process renames its build into place first, ours is discarded, not an error."""
    import logicrl.embedded as emb

    monkeypatch.setenv("LOGICRL_CACHE", str(tmp_path))
    real_build = emb.build_embedded
    spec = EmbeddedSpec(num_hidden_layers=1, hidden_size=64, num_attention_heads=1, intermediate_size=64)
    final = tmp_path / f"embedded-{emb.build_fingerprint(spec, emb.training_corpus(spec))}"

    def racing_build(target, spec_, corpus):
        real_build(final, spec_, corpus)  # the "other process" finishes first
        (final / "winner").write_text("1")
        return real_build(target, spec_, corpus)

    monkeypatch.setattr(emb, "build_embedded", racing_build)
    got = models.embedded_model_path(spec)
    assert got == final and (got / "winner").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [final.name]


def test_tokenizer_round_trip_and_special_tokens(embedded):
    tok = models.load_tokenizer("embedded")
    assert tok.padding_side == "left" and tok.pad_token is not None and tok.eos_token is not None
    for t in THINK_TOKENS:
        ids = tok(t, add_special_tokens=False)["input_ids"]
        assert len(ids) == 1, t
    text = "<think> Emma says Liam K ; </think><answer>(1) Emma is a knight\n(2) Liam is a knave</answer>"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    # Decoding as TRL does (skip_special_tokens) keeps the tags the rewards read.
    assert tok.decode(ids, skip_special_tokens=True) == text
    # A name from the puzzle generator is one token after a space.
    assert len(tok(" Emma", add_special_tokens=False)["input_ids"]) == 1
    # Text never seen in training still round-trips (byte-level fallback).
    odd = "Zürich ☃ 12345"
    assert tok.decode(tok(odd, add_special_tokens=False)["input_ids"]) == odd


def test_chat_template(embedded):
    tok = models.load_tokenizer(embedded)
    text = tok.apply_chat_template([{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}],
                                   tokenize=False, add_generation_prompt=True)
    assert text == "<|system|>\nS<|end|>\n<|user|>\nQ<|end|>\n<|assistant|>\n"


def test_load_model_and_tokenizer_embedded_and_local_path(embedded):
    import torch

    model, tok = models.load_model_and_tokenizer("embedded")
    model2, _ = models.load_model_and_tokenizer(str(embedded), dtype="float32")
    assert model.dtype == torch.float32
    for a, b in zip(model.parameters(), model2.parameters()):
        assert torch.equal(a, b)
    enc = tok(["Emma said", "A very special island"], return_tensors="pt", padding=True)
    out = model.generate(**enc, max_new_tokens=3, do_sample=False)
    assert out.shape == (2, enc["input_ids"].shape[1] + 3) or out.shape[1] <= enc["input_ids"].shape[1] + 3


def test_missing_paths_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        models.load_model_and_tokenizer(str(tmp_path / "nope"))
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(UserError, match="is a file"):
        models.load_model_and_tokenizer(str(tmp_path / "file.txt"))
    with pytest.raises(UserError, match="adapter"):
        models.load_model_and_tokenizer("embedded", adapter=tmp_path)
    # A folder without a model: a routed run's final/ (`--model runs/x/final`, as for any other run) or an
    # empty one ended in transformers' ValueError traceback ("Unrecognized model ... model_type").
    routed = tmp_path / "routed" / "final"
    routed.mkdir(parents=True)
    (routed / "routing.json").write_text("{}")
    with pytest.raises(UserError, match="--adapters"):
        models.load_model_and_tokenizer(str(routed))
    with pytest.raises(UserError, match="no config.json"):
        models.load_model_and_tokenizer(str(tmp_path / "routed"))


def test_adapter_round_trip(embedded, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model

    model, _ = models.load_model_and_tokenizer("embedded")
    peft_model = get_peft_model(model, LoraConfig(r=4, target_modules=models.default_lora_targets(model),
                                                  init_lora_weights=False))
    peft_model.save_pretrained(tmp_path / "adapter")
    loaded, _ = models.load_model_and_tokenizer("embedded", adapter=tmp_path / "adapter")
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        assert torch.allclose(peft_model(ids).logits, loaded(ids).logits, atol=1e-5)
        base, _ = models.load_model_and_tokenizer("embedded")
        assert not torch.allclose(base(ids).logits, loaded(ids).logits, atol=1e-5)


def test_default_lora_targets_by_family():
    from transformers import GPT2Config, LlamaConfig, Phi3Config, Qwen2Config

    assert models.default_lora_targets(Phi3Config()) == ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"]
    llama = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    assert models.default_lora_targets(LlamaConfig()) == llama
    assert models.default_lora_targets(Qwen2Config()) == llama
    assert models.default_lora_targets(GPT2Config()) == "all-linear"


def test_hub_ids_pass_through_unchanged():
    assert models.resolve_model_path("microsoft/Phi-4-mini-instruct") == "microsoft/Phi-4-mini-instruct"


def test_a_half_built_cache_directory_is_rebuilt(tmp_path, monkeypatch):
    """A leftover directory without config.json (a killed build) is replaced, not trusted or fatal."""
    import logicrl.embedded as emb

    monkeypatch.setenv("LOGICRL_CACHE", str(tmp_path))
    spec = EmbeddedSpec(num_hidden_layers=1, hidden_size=64, num_attention_heads=1, intermediate_size=64)
    final = tmp_path / f"embedded-{emb.build_fingerprint(spec, emb.training_corpus(spec))}"
    final.mkdir()
    (final / "tokenizer.json").write_text("{truncated")
    assert models.embedded_model_path(spec) == final
    assert (final / "config.json").is_file()
    assert json.loads((final / "tokenizer.json").read_text())  # the broken file was replaced


def test_atomic_write_gives_normal_file_permissions(tmp_path):
    import os
    import stat

    from logicrl.fsutil import atomic_write_text

    umask = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "out.txt", "x")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "out.txt").stat().st_mode) == 0o644


def test_logicrl_train_stays_the_function_after_the_training_package_is_imported():
    """`import logicrl.training` must not shadow the public `logicrl.train(config)` (a module named
    `logicrl/train.py` once did)."""
    import logicrl
    import logicrl.training

    assert callable(logicrl.train) and logicrl.train.__module__ == "logicrl"


def test_first_line_of_library_errors():
    from logicrl.errors import first_line

    assert first_line(OSError("cannot open\ntraceback details")) == "cannot open"
    assert first_line(OSError()) == "OSError"  # an empty message once raised IndexError in the CLI path
