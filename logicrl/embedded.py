"""Build the embedded default model: a small random-init Phi-3 and a tokenizer trained here on puzzle text.

Nothing is downloaded: the tokenizer is a byte-level BPE trained with the `tokenizers` library on
generated Knights-and-Knaves text (every word of that text, each name included, ends up as one token;
any other text still encodes byte by byte), and the model is `Phi3ForCausalLM` with a fixed seed.
Both are saved with `save_pretrained`, so they load like any hub model. `logicrl.models` caches the
result; this module only knows how to build it.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path

# Bump when the build recipe changes in a way the spec and corpus do not capture.
BUILD_VERSION = 1

THINK_TOKENS = ("<think>", "</think>", "<answer>", "</answer>")
PAD_TOKEN = "<|pad|>"
EOS_TOKEN = "<|end|>"
ENDOFTEXT_TOKEN = "<|endoftext|>"
ROLE_TOKENS = ("<|system|>", "<|user|>", "<|assistant|>")

# Phi-3 style: "<|role|>\ncontent<|end|>\n"; the generation prompt opens the assistant turn.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + '<|end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)


@dataclass(frozen=True)
class EmbeddedSpec:
    """Size of the embedded model. Head size is hidden_size / num_attention_heads = 64 (vLLM's CPU
    attention kernels reject smaller heads)."""

    hidden_size: int = 128
    """Width of the residual stream."""
    num_hidden_layers: int = 4
    """Number of transformer blocks."""
    num_attention_heads: int = 2
    """Attention heads (head size 64)."""
    intermediate_size: int = 512
    """Width of the MLP."""
    max_position_embeddings: int = 1024
    """Longest sequence (prompt + completion) the model accepts."""
    vocab_size: int = 4096
    """Upper bound for the BPE vocabulary; training stops earlier when nothing is left to merge."""
    seed: int = 0
    """Seed for the random initialisation and the tokenizer corpus."""


# A fallback name pool and phrasing so that the tokenizer covers puzzle text even when the
# `puzzles` package is not importable; the real generator's text is added when it is.
_FALLBACK_NAMES = ["Aiden", "Amelia", "Aria", "Ava", "Benjamin", "Charlotte", "Chloe", "Daniel", "David", "Elijah", "Elizabeth", "Ella", "Emily", "Emma", "Ethan", "Evelyn", "Grace", "Harper", "Henry", "Isabella", "Jack", "Jackson", "James", "Liam", "Logan", "Lucas", "Mason", "Mia", "Michael", "Noah", "Oliver", "Olivia", "Owen", "Samuel", "Scarlett", "Sebastian", "Sofia", "Sophia", "Victoria", "William", "Zoey", "Abigail", "Alexander", "Avery", "Carter", "Jacob", "Joseph", "Lily", "Matthew", "Penelope", "Riley", "Aurora", "Hannah", "Jayden", "Luke", "Nora", "Zoe", "Leo", "Luna", "Gabriel", "Layla", "Lillian", "Anthony", "Dylan", "Ellie", "Joshua", "Madison", "Wyatt", "Isaac", "Jaxon", "Levi", "Mila"]
_FALLBACK_ROLES = (("knight", "knave"), ("angel", "devil"), ("hero", "villain"), ("saint", "sinner"))


def _fallback_corpus(rng: random.Random, count: int) -> list[str]:
    lines = []
    for _ in range(count):
        n = rng.randint(2, 8)
        names = rng.sample(_FALLBACK_NAMES, n)
        good, bad = rng.choice(_FALLBACK_ROLES)
        text = [
            (
                f"A very special island is inhabited only by {good}s and {bad}s. "
                f"{good.capitalize()}s always tell the truth, and {bad}s always lie. "
                f"You meet {n} inhabitants: {', '.join(names[:-1])}, and {names[-1]}."
            )
        ]
        for name in names:
            a, b = rng.sample(names, 2)
            ra, rb = rng.choice((good, bad)), rng.choice((good, bad))
            form = rng.choice(
                (
                    f'{name} said that "{a} is a {ra} and {b} is a {rb}."',
                    f'{name} says, "{a} is a {ra} or {b} is a {rb}."',
                    f'{name} told you that "If {a} is a {ra} then {b} is a {rb}."',
                    f'{name} claimed, "{a} is a {ra} if and only if {b} is a {rb}."',
                    f'{name} stated, "{a} is not a {ra}."',
                    f'In {name}\'s words: "{a} is a {ra}."',
                )
            )
            text.append(form)
        text.append(f"So who is a {good} and who is a {bad}?")
        answer = "\n".join(f"({i + 1}) {nm} is a {rng.choice((good, bad))}" for i, nm in enumerate(names))
        text.append(f"<think> Let me check each case. </think> <answer> {answer} </answer>")
        lines.append(" ".join(text))
    return lines


def _puzzle_corpus(seed: int) -> list[str]:
    """Text from the real puzzle generator and the demo's completion format."""
    import puzzles
    from puzzles.compact import compact_completion, compact_prompt

    lines: list[str] = []
    for n_people in range(2, 9):
        for p in puzzles.generate_kk(n_people, 300 if n_people <= 4 else 60, seed=seed + n_people):
            lines.append(p.quiz)
            lines.append(p.solution_text_format)
            lines.append(p.trace)
            lines.append(compact_prompt(p) + compact_completion(p))
    return lines


def training_corpus(spec: EmbeddedSpec) -> list[str]:
    """The deterministic text the tokenizer is trained on."""
    rng = random.Random(spec.seed)
    corpus = _fallback_corpus(rng, 4000) + _puzzle_corpus(spec.seed)
    # Make sure each fallback name also appears with a leading space and at line start.
    corpus.append(" ".join(_FALLBACK_NAMES))
    corpus.append("\n".join(_FALLBACK_NAMES))
    return corpus


def build_fingerprint(spec: EmbeddedSpec, corpus: list[str]) -> str:
    """A short hash of everything the build depends on (names the cache directory)."""
    h = hashlib.sha256()
    h.update(json.dumps({"build": BUILD_VERSION, "spec": asdict(spec)}, sort_keys=True).encode())
    for line in corpus:
        h.update(line.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()[:16]


def train_tokenizer(corpus: list[str], vocab_size: int):
    """A byte-level BPE `PreTrainedTokenizerFast` with chat template and the think/answer tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import AddedToken, PreTrainedTokenizerFast

    special = [PAD_TOKEN, EOS_TOKEN, ENDOFTEXT_TOKEN, *ROLE_TOKENS]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=1,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token=PAD_TOKEN,
        eos_token=EOS_TOKEN,
        unk_token=None,
        additional_special_tokens=[ENDOFTEXT_TOKEN, *ROLE_TOKENS],
        clean_up_tokenization_spaces=False,
        model_max_length=1024,
    )
    # Not "special": decoding with skip_special_tokens=True (as TRL does) must keep them, since the
    # rewards read the tags. Each is still one token, and it does not swallow surrounding spaces.
    fast.add_tokens([AddedToken(t, special=False, normalized=False) for t in THINK_TOKENS])
    fast.chat_template = CHAT_TEMPLATE
    fast.padding_side = "left"
    return fast


def build_embedded(target: str | Path, spec: EmbeddedSpec | None = None, corpus: list[str] | None = None):
    """Write tokenizer, config and random-init weights of the embedded model into `target`."""
    import torch
    from transformers import GenerationConfig, Phi3Config, Phi3ForCausalLM

    spec = spec or EmbeddedSpec()
    corpus = corpus if corpus is not None else training_corpus(spec)
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(corpus, spec.vocab_size)
    eos_ids = [tokenizer.convert_tokens_to_ids(t) for t in (EOS_TOKEN, ENDOFTEXT_TOKEN)]
    config = Phi3Config(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_attention_heads,
        max_position_embeddings=spec.max_position_embeddings,
        original_max_position_embeddings=spec.max_position_embeddings,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=eos_ids[0],
        bos_token_id=eos_ids[1],
        tie_word_embeddings=True,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attention_dropout=0.0,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        model = Phi3ForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=eos_ids, pad_token_id=tokenizer.pad_token_id, do_sample=False
    )
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    (target / "logicrl_embedded.json").write_text(
        json.dumps({"build": BUILD_VERSION, "spec": asdict(spec), "parameters": model.num_parameters()}, indent=2)
    )
    return target
