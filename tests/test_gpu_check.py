"""scripts/gpu_check.sh: its --tiny mode end to end (CI's guard against the GPU script rotting), and the
Phi-4-Mini shapes it builds. The GPU mode itself runs only on a GPU machine (docs/vllm.md)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _gpu_check_module():
    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "scripts" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_phi4_mini_shapes_give_its_parameter_count_and_grouped_query_attention():
    """Built on the meta device (no memory): 3.836e9 parameters as microsoft/Phi-4-mini-instruct, q/k/v of
    24/8/8 heads of 128, rotary embedding on 96 of 128 dimensions."""
    import torch
    from transformers import Phi3Config, Phi3ForCausalLM

    shape = _gpu_check_module().PHI4_MINI
    with torch.device("meta"):
        model = Phi3ForCausalLM(Phi3Config(**shape))
    assert sum(p.numel() for p in model.parameters()) == 3_836_021_760
    attention = model.model.layers[0].self_attn
    assert attention.qkv_proj.out_features == (24 + 2 * 8) * 128
    assert model.model.rotary_emb.inv_freq.numel() == 96 // 2
    assert model.lm_head.weight is model.model.embed_tokens.weight  # tied embeddings


def test_padded_tokenizer_covers_the_vocabulary_and_keeps_the_chat_format():
    tokenizer = _gpu_check_module().padded_tokenizer(5000)
    assert len(tokenizer) == 5000
    assert tokenizer.decode([4990]).strip().startswith("tok")  # a filler id decodes to text
    assert tokenizer.convert_tokens_to_ids("</answer>") == 4999 and tokenizer.convert_ids_to_tokens(4995) != "<think>"
    ids = tokenizer("<think> Aiden is a knight </think>")["input_ids"]
    assert tokenizer.convert_tokens_to_ids("<think>") in ids
    chat = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True,
                                         tokenize=False)
    assert chat.endswith("<|assistant|>\n")


@pytest.mark.slow
@pytest.mark.vllm
def test_gpu_check_tiny_passes(tmp_path):
    """`scripts/gpu_check.sh --tiny` in .venv-vllm (transformers 5.17, the GPU machine's version): every
    stage passes and the figures are printed."""
    python = REPO / ".venv-vllm" / "bin" / "python"
    if not python.exists():
        if os.environ.get("LOGICRL_REQUIRE_VLLM") == "1":
            pytest.fail(".venv-vllm not found (LOGICRL_REQUIRE_VLLM=1)")
        pytest.skip(".venv-vllm not found: build it with scripts/setup_vllm.sh")
    env = dict(os.environ, PYTHON=str(python), TMPDIR=str(tmp_path))
    env.pop("VIRTUAL_ENV", None)
    proc = subprocess.run(["bash", str(REPO / "scripts" / "gpu_check.sh"), "--tiny"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    out = proc.stdout
    print(out[-4000:])
    assert proc.returncode == 0, out[-4000:] + proc.stderr[-3000:]
    assert "== gpu_check PASSED" in out
    for stage in ("env", "build", "lora", "full", "eval", "routed"):
        assert f"-- [{stage}] ok" in out, stage
    assert out.count("    step ") == 6  # three LoRA, one full fine-tuning and two routed steps, with their times
    assert "tok/s" in out and "peak RSS" in out
    assert not list(tmp_path.glob("logicrl-gpu-check.*"))  # the workdir (a 7.7 GB model on a GPU) is removed
