"""Supervised warm start through TRL's SFTTrainer on the compact reasoning traces."""

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("LOGICRL_CACHE", str(tmp_path_factory.mktemp("logicrl-cache")))
    from logicrl.models import embedded_model_path

    yield embedded_model_path()
    mp.undo()


def test_warm_start_lowers_the_completion_loss_and_saves_a_loadable_model(embedded, tmp_path):
    import torch

    from logicrl.models import load_model_and_tokenizer
    from logicrl.training.warm_start import completion_loss, trace_records, warm_start
    from puzzles import generate_kk

    torch.manual_seed(0)
    records = trace_records(generate_kk(2, 48, seed=1) + generate_kk(3, 48, seed=1), "compact")
    probe = records[:16]
    model, tok = load_model_and_tokenizer(embedded)
    before = completion_loss(model, tok, probe)
    result = warm_start(model, tok, records, output_dir=tmp_path / "ws", max_steps=12, learning_rate=3e-3,
                        batch_size=8, logging_steps=4)
    after = completion_loss(result.model, tok, probe)
    assert result.steps == 12 and result.examples == 96
    assert len(result.losses) == 3
    assert after < before - 1.0, (before, after)  # random init ~ln(vocab) ~ 6.8 nats
    assert tok.padding_side == "left"  # restored after training (right padding is for training only)
    reloaded, tok2 = load_model_and_tokenizer(tmp_path / "ws")
    assert abs(completion_loss(reloaded, tok2, probe) - after) < 1e-4


def test_warm_start_rejects_bad_arguments(embedded, tmp_path):
    from logicrl.models import load_model_and_tokenizer
    from logicrl.training.warm_start import warm_start

    model, tok = load_model_and_tokenizer(embedded)
    with pytest.raises(ValueError, match="max_steps"):
        warm_start(model, tok, [{"prompt": "a", "completion": "b"}], output_dir=tmp_path, max_steps=0)
    with pytest.raises(ValueError, match="no warm-start records"):
        warm_start(model, tok, [], output_dir=tmp_path, max_steps=1)
