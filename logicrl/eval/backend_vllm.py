"""Evaluation through vLLM: `VLLMBackend(model, adapter=None, **engine_options).generate(...)`.

Prompts are tokenized here with the model's own tokenizer (chat prompts through its chat template),
so vLLM and the `hf` backend see the same token ids. A LoRA adapter is served with vLLM's multi-LoRA
support (`enable_lora=True` + a `LoRARequest`), not merged into the weights.
"""

from __future__ import annotations

from pathlib import Path

from logicrl.errors import UserError
from logicrl.vllm_utils import adapter_rank, lora_rank_limit, make_llm, prompt_token_ids, require_vllm


class VLLMBackend:
    """Generate with `vllm.LLM`; engine options default per device (see `logicrl.vllm_utils`)."""

    name = "vllm"

    def __init__(self, model: str = "embedded", adapter: str | None = None, adapters: dict | None = None,
                 **engine_options):
        require_vllm()
        from logicrl.models import load_tokenizer, resolve_model_path

        self.model_path = resolve_model_path(model)
        self.tokenizer = load_tokenizer(self.model_path)
        self.lora_request = None
        if adapter is not None:
            from vllm.lora.request import LoRARequest

            adapter_path = Path(adapter).expanduser()
            rank = adapter_rank(adapter_path)  # also checks that it is an adapter directory
            engine_options.setdefault("enable_lora", True)
            engine_options.setdefault("max_lora_rank", lora_rank_limit(rank))
            engine_options.setdefault("max_loras", 1)
            self.lora_request = LoRARequest("adapter", 1, str(adapter_path.resolve()))
        self.lora_requests: dict = {}
        if adapters:  # routed: every adapter in one engine, one LoRARequest per prompt
            from vllm.lora.request import LoRARequest

            if adapter is not None:
                raise UserError("--adapter and --adapters are exclusive")
            ranks = [adapter_rank(Path(p).expanduser()) for p in adapters.values()]
            engine_options.setdefault("enable_lora", True)
            engine_options.setdefault("max_lora_rank", lora_rank_limit(max(ranks)))
            engine_options.setdefault("max_loras", len(adapters))
            self.lora_requests = {name: LoRARequest(name, i + 1, str(Path(p).expanduser().resolve()))
                                  for i, (name, p) in enumerate(adapters.items())}
        self.llm = make_llm(self.model_path, **engine_options)

    def generate(
        self,
        prompts: list,
        n: int = 1,
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_tokens: int = 256,
        seed: int | None = 0,
        routes: list[str] | None = None,
    ) -> list[list[str]]:
        """`n` completions (text, special tokens removed) for each prompt, in prompt order. `routes`: with routed
        adapters, one adapter name (or "__base__") per prompt."""
        from vllm import SamplingParams, TokensPrompt

        if n < 1:
            raise UserError(f"n must be at least 1, got {n}")
        token_ids = prompt_token_ids(self.tokenizer, prompts)
        # Greedy decoding gives one answer; vLLM refuses n > 1 there, so ask once and repeat it.
        repeat, n = (n, 1) if temperature == 0 and n > 1 else (1, n)
        # One seed per prompt: reproducible, and two prompts never share a random stream.
        params = [
            SamplingParams(n=n, temperature=temperature, top_p=top_p, max_tokens=max_tokens,
                           seed=None if seed is None else seed + i)
            for i in range(len(prompts))
        ]
        lora_request = self.lora_request
        if routes is not None:
            unknown = sorted({r for r in routes if r != "__base__" and r not in self.lora_requests})
            if unknown:
                raise UserError(f"route {unknown[0]!r} names no adapter of this engine ({', '.join(self.lora_requests)})")
            lora_request = [None if r == "__base__" else self.lora_requests[r] for r in routes]
        outputs = self.llm.generate(
            [TokensPrompt(prompt_token_ids=ids) for ids in token_ids], params,
            lora_request=lora_request, use_tqdm=False,
        )
        return [[choice.text for choice in out.outputs] * repeat for out in outputs]
