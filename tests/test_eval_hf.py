"""The `hf` backend with the embedded model: shapes, greedy repeats, seeds, token counts, context cap."""

from __future__ import annotations

import pytest

from logicrl.eval.backends import make_backend

pytestmark = pytest.mark.slow

CHAT = [{"role": "user", "content": "Zoey says Oliver is a knave. Who is a knight?"}]


@pytest.fixture(scope="module")
def hf():
    return make_backend("hf", model="embedded", device="cpu", batch_size=2)


def test_shapes_greedy_and_seeds(hf):
    prompts = [CHAT, "User: hello\nAssistant:", CHAT]
    greedy = hf.generate(prompts, n=3, temperature=0.0, top_p=1.0, max_tokens=6, seed=0)
    assert [len(x) for x in greedy] == [3, 3, 3]
    assert all(len(set(x)) == 1 for x in greedy)  # greedy: one answer repeated
    assert greedy[0] == greedy[2]  # same prompt, same greedy answer, across batches
    assert [len(c) for c in hf.last_token_counts] == [3, 3, 3]
    assert all(1 <= c <= 6 for counts in hf.last_token_counts for c in counts)

    before = hf.generated_tokens
    a = hf.generate([CHAT], n=4, temperature=1.0, top_p=1.0, max_tokens=8, seed=123)
    b = hf.generate([CHAT], n=4, temperature=1.0, top_p=1.0, max_tokens=8, seed=123)
    assert a == b  # same seed, same samples
    assert len(set(a[0])) > 1  # sampling gives different completions
    assert hf.generated_tokens - before == 2 * sum(hf.last_token_counts[0])


def test_prompt_longer_than_context_gives_empty_completions(hf):
    context = hf.model.config.max_position_embeddings
    long_prompt = "Zoey " * (context + 10)
    out = hf.generate([long_prompt], n=2, temperature=0.0, top_p=1.0, max_tokens=4, seed=0)
    assert out == [["", ""]] and hf.last_token_counts == [[0, 0]]


def test_eval_with_a_lora_adapter(tmp_path):
    from peft import LoraConfig, get_peft_model

    from logicrl.eval.runner import EvalConfig, run_eval
    from logicrl.models import default_lora_targets, load_model_and_tokenizer

    model, _ = load_model_and_tokenizer("embedded")
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=default_lora_targets(model)))
    peft_model.save_pretrained(tmp_path / "adapter")
    summary = run_eval(EvalConfig(model="embedded", adapter=str(tmp_path / "adapter"), benchmark="kk:2",
                                  kk_count=2, max_tokens=4, temperature=0.0, out=str(tmp_path / "out"),
                                  progress=False))
    assert summary["adapter"] == str(tmp_path / "adapter") and summary["total_samples"] == 2
