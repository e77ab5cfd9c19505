"""LoRA: only adapter parameters train; adapter save / load / merge give the same logits."""

from __future__ import annotations

import pytest
import torch
from test_train_utils import small_recipe

pytestmark = pytest.mark.slow


def test_lora_trains_only_adapters_and_round_trips(tmp_path):
    from logicrl.config import load_config
    from logicrl.models import default_lora_targets, load_model_and_tokenizer
    from logicrl.training import build_trainer, run_trainer
    from logicrl.training.lora import load_adapter, merge_adapter, save_adapter

    recipe = small_recipe(tmp_path / "run", lora={"enabled": True, "r": 4, "alpha": 8})
    trainer, run_dir = build_trainer(recipe)
    model = trainer.model
    targets = set(model.peft_config["default"].target_modules)
    assert targets == set(default_lora_targets(model.get_base_model()))  # Phi-3 family defaults
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    run_trainer(trainer, run_dir, load_config(recipe))
    changed = {n for n, p in model.named_parameters() if not torch.equal(before[n], p.detach())}
    assert changed, "nothing trained"
    assert all("lora_" in n for n in changed), sorted(changed)[:5]
    assert any("lora_B" in n for n in changed)

    # Round trip: save the adapter, load it on a fresh base, merge: the same logits every time.
    model.eval()
    ids = torch.tensor([[5, 17, 42, 99, 7, 3]])
    with torch.no_grad():
        reference = model(input_ids=ids).logits
    adapter_dir = save_adapter(model, tmp_path / "adapter")
    assert (adapter_dir / "adapter_config.json").is_file()
    assert (run_dir / "final" / "adapter_config.json").is_file()  # the run's final model is the adapter
    base, _ = load_model_and_tokenizer("embedded")
    with torch.no_grad():
        base_logits = base(input_ids=ids).logits
    assert not torch.allclose(base_logits, reference, atol=1e-6)  # the adapter matters
    loaded = load_adapter(base, adapter_dir).eval()
    with torch.no_grad():
        assert torch.allclose(loaded(input_ids=ids).logits, reference, atol=1e-5)
    merged = merge_adapter(loaded).eval()
    assert not hasattr(merged, "peft_config")
    with torch.no_grad():
        assert torch.allclose(merged(input_ids=ids).logits, reference, atol=1e-4)
    # and through the loader the demo and eval use
    again, _ = load_model_and_tokenizer("embedded", adapter=run_dir / "final")
    with torch.no_grad():
        assert torch.allclose(again.eval()(input_ids=ids).logits, reference, atol=1e-5)
