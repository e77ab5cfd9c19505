"""Online (multi-turn) rollouts in an `agents` environment, as TRL's `rollout_func`.

TRL 1.16 calls ``rollout_func(prompts, trainer)`` with this process's prompts (each repeated
`num_generations` times, one per completion wanted) and takes back ``prompt_ids``, ``completion_ids``,
``logprobs`` and any extra fields; an extra field ``env_mask`` (one 0/1 per completion token) becomes
TRL's ``tool_mask``, and the policy loss (and the KL term and the token counts) is taken over
``completion_mask * tool_mask`` only (`GRPOTrainer._generate` and `_compute_loss`). That is how the
environment's tokens are kept out of the loss, with TRL's own supported mechanism.

One episode is one completion sequence:

    prompt | reply 1 <eos> | env: next user turn + generation prompt | reply 2 <eos> | env ... | reply k <eos>
             mask 1          mask 0                                   mask 1          mask 0       mask 1

Each turn, every running episode of the batch generates its reply at once (`model.generate` on the
whole sequence so far, left-padded, sampling with the trainer's temperature and top_p, at most
`turn_tokens` new tokens); the reply is parsed (MageBench's `# action` parser or another), the move
played, and the environment decides the next message (the new scene and MageBench's continue text,
or its regenerate text after a reply that did not parse) and the end (solved, step limit, turn
limit, or no room left in `max_completion_length`). The next message is rendered with the chat
template the way TRL renders tool results (`_get_tool_suffix_ids`: the template's text after a
finished assistant turn), so the sequence is exactly what the model would be shown.

Differences from MageBench's Online loop, all forced by training on one sequence: the model sees the
whole episode so far (MageBench keeps the last 5 turns and only the newest scene), and an episode ends
when the sequence budget is spent. With the compact prompt style a turn is the grid and ``# action``,
the reply one move.

The episode's result travels to the `sokoban` reward in the extra fields ``sokoban_score``,
``sokoban_do_nothing``, ``sokoban_solved``, ``sokoban_steps``, ``sokoban_parse_failures``; the mean
score, success rate, turns and the share of environment tokens are logged per step under
``rollout/``. `logprobs` is None: the trained model generates, so TRL needs no importance sampling.
"""

from __future__ import annotations

from logicrl.errors import UserError
from logicrl.trl_compat import log_metric


class OnlineRollout:
    """A TRL `rollout_func` playing Sokoban episodes turn by turn with the trained model.

    `levels`: the dataset's levels (a prompt is matched to its level by the scene grid it shows);
    `settings`: `agents.AgentSettings` (mode online, parser, max_turns, text observation);
    `style`: "chat" (MageBench's messages through the chat template) or "compact" (grid + ``# action``);
    `turn_tokens`: most new tokens per reply.
    """

    def __init__(self, levels, tokenizer, settings, style: str = "chat", turn_tokens: int = 32):
        from agents.sokoban import LevelError

        self.tokenizer = tokenizer
        self.settings = settings
        self.style = style
        self.turn_tokens = int(turn_tokens)
        self.levels = {}
        for lv in levels:
            self.levels.setdefault(lv.text_grid(), lv)
        if style == "chat" and getattr(tokenizer, "chat_template", None) is None:
            raise UserError("Online rollouts with chat prompts need a tokenizer with a chat template")
        self._level_error = LevelError
        self.last: list[dict] = []  # the last batch's episode results (tests, logging)

    # ---- prompts and environment turns as token ids

    def _level_of(self, prompt):
        from agents.sokoban import Level, with_optimal
        from agents.sokoban.compact import HEADINGS, scene_grid

        if isinstance(prompt, str):
            grid = prompt.removesuffix(HEADINGS["online"]).rstrip("\n")
        else:
            grid = scene_grid(prompt)
        if grid in self.levels:
            return self.levels[grid]
        try:  # a prompt from outside the dataset: solve it for its U
            return with_optimal(Level(tuple((grid or "").split("\n"))))
        except (self._level_error, ValueError) as exc:
            raise UserError(f"Online rollout: cannot find the level of a prompt ({exc})") from None

    def prompt_ids(self, prompt) -> list[int]:
        if isinstance(prompt, str):
            return self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        return list(self.tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True,
                                                       return_dict=False))

    def env_turn_ids(self, episode, acted: bool) -> list[int]:
        """The tokens the environment writes after a finished reply (its end-of-turn token included)."""
        if self.style == "compact":
            from agents.sokoban.compact import compact_prompt

            return self.tokenizer("\n" + compact_prompt(episode.env.text(), "online"),
                                  add_special_tokens=False)["input_ids"]
        from agents.loop import next_user_message

        message = next_user_message(episode, self.settings, acted)
        dummy = [{"role": "user", "content": "dummy"}, {"role": "assistant", "content": "dummy"}]
        prefix = list(self.tokenizer.apply_chat_template(dummy, tokenize=True, return_dict=False))
        full = list(self.tokenizer.apply_chat_template(dummy + [message], add_generation_prompt=True, tokenize=True,
                                                       return_dict=False))
        eos = [i for i, t in enumerate(prefix) if t == self.tokenizer.eos_token_id]
        if eos:  # cut after the assistant's end-of-turn token, which the reply itself ends with
            prefix = prefix[: eos[-1] + 1]
        if full[: len(prefix)] != prefix:
            raise UserError("the chat template does not extend a conversation by appending to it; Online "
                            "rollouts need a prefix-preserving template")
        return full[len(prefix):]

    # ---- generation

    def _generate(self, model, sequences: list[list[int]], max_new: int, args) -> list[list[int]]:
        """One reply per sequence (left-padded batch), cut after the first end-of-sequence token."""
        import torch

        tok = self.tokenizer
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        width = max(len(s) for s in sequences)
        device = next(model.parameters()).device
        input_ids = torch.tensor([[pad] * (width - len(s)) + s for s in sequences], device=device)
        attention = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in sequences], device=device)
        eos = model.generation_config.eos_token_id if model.generation_config is not None else None
        eos = eos if eos is not None else tok.eos_token_id
        eos_ids = set(eos if isinstance(eos, (list, tuple)) else [eos]) - {None}
        sample = args.temperature > 0
        kwargs = {"do_sample": sample, "max_new_tokens": max_new, "pad_token_id": pad}
        if sample:
            kwargs.update(temperature=args.temperature, top_p=args.top_p, top_k=0)
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bool(args.bf16)):
                out = model.generate(input_ids=input_ids, attention_mask=attention, **kwargs)
        finally:
            model.train(was_training)
        replies = []
        for row in out[:, width:].tolist():  # a row without an end token ran to max_new: no padding in it
            end = next((i for i, t in enumerate(row) if t in eos_ids), None)
            replies.append(row if end is None else row[: end + 1])
        return replies

    # ---- one batch of episodes

    def __call__(self, prompts: list, trainer) -> dict:
        from agents.parsing import get_parser
        from agents.sokoban import MOVES, SokobanEpisode

        args = trainer.args
        model = trainer.accelerator.unwrap_model(trainer.model)
        budget = int(trainer.max_completion_length)
        context = getattr(model.config, "max_position_embeddings", None) or 10**9
        parser = get_parser(self.settings.parser)
        eos_id = self.tokenizer.eos_token_id
        episodes = [SokobanEpisode(self._level_of(p)) for p in prompts]
        prompt_ids = [self.prompt_ids(p) for p in prompts]
        completion: list[list[int]] = [[] for _ in prompts]
        mask: list[list[int]] = [[] for _ in prompts]
        failures = [0] * len(prompts)
        turns = [0] * len(prompts)
        running = list(range(len(prompts)))
        for _turn in range(self.settings.max_turns):
            if not running:
                break
            sequences = [prompt_ids[i] + completion[i] for i in running]
            room = min(self.turn_tokens, max(1, context - max(len(s) for s in sequences)))
            replies = self._generate(model, sequences, room, args)
            still = []
            for i, reply in zip(running, replies):
                reply = reply[: budget - len(completion[i])]
                completion[i] += reply
                mask[i] += [1] * len(reply)
                turns[i] += 1
                text = self.tokenizer.decode(reply, skip_special_tokens=True)
                action = parser.action(text, MOVES)
                if action is None:
                    failures[i] += 1
                elif episodes[i].act(action):
                    continue  # the episode ended
                env = ([eos_id] if not reply or reply[-1] != eos_id else []) + self.env_turn_ids(episodes[i],
                                                                                               action is not None)
                # Stop when the next turn cannot fit: the environment's text and at least one reply token.
                if len(completion[i]) + len(env) + 1 > budget or len(prompt_ids[i]) + len(completion[i]) + len(env) + 1 >= context:
                    continue
                completion[i] += env
                mask[i] += [0] * len(env)
                still.append(i)
            running = still
        results = [ep.result() for ep in episodes]
        for r, n, f in zip(results, turns, failures):
            r.update(turns=n, parse_failures=f)
        self.last = results
        self._log(trainer, results, mask)
        return {
            "prompt_ids": prompt_ids,
            "completion_ids": completion,
            "logprobs": None,
            "env_mask": mask,
            "sokoban_score": [r["score"] for r in results],
            "sokoban_do_nothing": [r["do_nothing_score"] for r in results],
            "sokoban_solved": [bool(r["solved"]) for r in results],
            "sokoban_steps": [r["steps"] for r in results],
            "sokoban_parse_failures": [r["parse_failures"] for r in results],
        }

    @staticmethod
    def _log(trainer, results: list[dict], mask: list[list[int]]) -> None:
        n = max(1, len(results))
        log_metric(trainer, "rollout/episode_score", sum(r["score"] for r in results) / n)
        log_metric(trainer, "rollout/episode_solved", sum(bool(r["solved"]) for r in results) / n)
        log_metric(trainer, "rollout/episode_turns", sum(r["turns"] for r in results) / n)
        log_metric(trainer, "rollout/parse_failures", sum(r["parse_failures"] for r in results) / n)
        tokens = sum(len(m) for m in mask)
        log_metric(trainer, "rollout/env_token_fraction", (tokens - sum(map(sum, mask))) / max(1, tokens))
