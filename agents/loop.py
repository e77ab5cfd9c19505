"""MageBench's two agent loops, Global and Online, for any policy and any `agents` environment.

A *policy* is any callable ``policy(batch) -> replies``: `batch` is a list of conversations, each a
list of chat messages in OpenAI's format (``{"role": ..., "content": ...}``; content is a string
when a message holds only text, else a list of ``{"type": "text", "text": ...}`` and
``{"type": "image_url", "image_url": {"url": "data:image/png;base64,..."}}`` parts), and `replies`
is one string per conversation. The policy knows nothing of the environment; the eval backends wrap
their ``generate`` into one with the sampling settings of `AgentSettings` (temperature 0.1,
top_p 0.95, frequency_penalty 1.0, max_tokens 1000 Global / 300 Online, as MageBench runs it).

Episodes are batched: Global makes one policy call for all episodes; Online makes one call per turn
for the episodes still running.

Global (``Flow/GlobalPlanning.py:118-164``): messages ``[system, user(initial scene + format prompt)]``;
the reply is parsed into a list of actions, executed in order until the episode ends. A parse
failure is a reply that yields no action.

Online (``Flow/Online_HL_FBandSB.py:43-172``): a fixed prefix ``[system, user(format prompt)]``,
then a memory that starts as ``user(initial scene + "Please act according to the init game
scene.")``. Each turn, for at most `max_turns` turns: keep the last ``2 * max_memory`` memory
messages; strip the scenes from all but the newest messages holding at most `max_images` of them
(permanently, as MageBench does); call the policy on prefix + memory; append the reply; parse one
action; if there is one, act, and stop when the episode ended; else count a parse failure. Then
append a user message with the new scene (when an action was taken) and "Please continue to act
according to the current game scene." (or, after a failed parse, "Please regenerate the response
that satisfy the format requirements strictly."). With `merge_roles` (MageBench's open-model API
path, ``API/HF.py:merge_role``) consecutive messages of one role are merged before the call.

An environment adapter implements `AgentEpisode`; Sokoban's is `agents.sokoban.agent.SokobanEpisode`.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Protocol

from agents.parsing import get_parser

Message = dict
Policy = Callable[[list[list[Message]]], list[str]]

INIT_SCENE_TEXT = "Please act according to the init game scene."
CONTINUE_TEXT = "Please continue to act according to the current game scene."
REGENERATE_TEXT = "Please regenerate the response that satisfy the format requirements strictly."
MODES = ("global", "online")
OBSERVATIONS = ("image", "text", "both")


@dataclass
class AgentSettings:
    """How an agent plays (MageBench's published Sokoban scripts unless noted).

    mode: ``"global"`` (one reply plans every action) or ``"online"`` (one action per turn).
    parser: registered parser name (`agents.parsing`): ``"magebench"`` (exact) or ``"tolerant"``.
    observation: ``"image"`` (MageBench: a PNG of the scene), ``"text"`` (the scene as a text
        grid, for text-only models; our addition) or ``"both"``.
    resolution: long side in pixels the scene image is resized to (MageBench scripts: 640).
    max_turns: Online turns per episode (50).
    max_memory: Online memory in turn pairs; the last ``2 * max_memory`` messages are kept (5).
    max_images: scenes kept in the Online memory, newest first (1).
    system_role: send the system prompt as a system message; False folds it into the first user
        message (MageBench's ``--model-no-system``).
    merge_roles: merge consecutive messages of one role before each call (MageBench's open-model
        path; chat templates that require alternating roles need it).
    temperature, top_p, frequency_penalty: sampling settings for the backend (0.1, 0.95, 1.0:
        ``main.py`` defaults, temperature also set by the scripts).
    max_tokens: reply token limit; None = 1000 Global, 300 Online (the scripts).
    batch_size: at most this many conversations per policy call (None = all at once).
    progress: show a progress bar.
    """

    mode: str = "global"
    parser: str = "magebench"
    observation: str = "image"
    resolution: int = 640
    max_turns: int = 50
    max_memory: int = 5
    max_images: int = 1
    system_role: bool = True
    merge_roles: bool = True
    temperature: float = 0.1
    top_p: float = 0.95
    frequency_penalty: float = 1.0
    max_tokens: int | None = None
    batch_size: int | None = None
    progress: bool = False

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.observation not in OBSERVATIONS:
            raise ValueError(f"observation must be one of {OBSERVATIONS}, got {self.observation!r}")
        get_parser(self.parser)
        for name in ("resolution", "max_turns", "max_memory", "max_images"):
            v = getattr(self, name)
            if type(v) is not int or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if self.max_tokens is not None and (type(self.max_tokens) is not int or self.max_tokens < 1):
            raise ValueError(f"max_tokens must be a positive integer or None, got {self.max_tokens!r}")
        if self.batch_size is not None and (type(self.batch_size) is not int or self.batch_size < 1):
            raise ValueError(f"batch_size must be a positive integer or None, got {self.batch_size!r}")

    @property
    def reply_tokens(self) -> int:
        """The reply token limit in force (`max_tokens`, else 1000 Global / 300 Online)."""
        if self.max_tokens is not None:
            return self.max_tokens
        return 1000 if self.mode == "global" else 300

    def generation_kwargs(self) -> dict:
        """Sampling settings for a backend: temperature, top_p, frequency_penalty, max_tokens."""
        return {"temperature": self.temperature, "top_p": self.top_p,
                "frequency_penalty": self.frequency_penalty, "max_tokens": self.reply_tokens}

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Scene:
    """One observation of the environment: PNG bytes and/or a text rendering."""

    png: bytes | None = None
    text: str | None = None


@dataclass
class Part:
    """Internal message part: text, or a scene (rendered per `AgentSettings.observation`)."""

    text: str | None = None
    scene: Scene | None = None


class AgentEpisode(Protocol):
    """What a loop needs from an environment adapter."""

    actions: tuple[str, ...]
    """The action vocabulary the parsers accept."""
    system_prompt: str
    done: bool

    def format_prompt(self, mode: str) -> str: ...

    def scene(self, settings: AgentSettings) -> Scene: ...

    def act(self, action: str) -> bool:
        """Take one action; True when the episode has ended."""
        ...

    def result(self) -> dict: ...


@dataclass
class Transcript:
    """What happened in one episode, for logs: each reply and the actions parsed from it."""

    replies: list[str] = field(default_factory=list)
    parsed: list[list[str]] = field(default_factory=list)
    parse_failures: int = 0


# ---- rendering messages --------------------------------------------------------------------------
def _data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _render_parts(parts: Sequence[Part], settings: AgentSettings, text_header: str):
    out = []
    for part in parts:
        if part.scene is None:
            out.append({"type": "text", "text": part.text})
            continue
        if settings.observation in ("image", "both") and part.scene.png is not None:
            out.append({"type": "image_url", "image_url": {"url": _data_url(part.scene.png)}})
        if settings.observation in ("text", "both") and part.scene.text is not None:
            out.append({"type": "text", "text": f"{text_header}\n{part.scene.text}"})
    return out


def _to_message(role: str, parts: list[dict]) -> Message:
    if all(p["type"] == "text" for p in parts):
        return {"role": role, "content": "\n".join(p["text"] for p in parts)}
    return {"role": role, "content": parts}


def merge_roles(messages: list[Message]) -> list[Message]:
    """Merge consecutive messages of one role (MageBench ``API/HF.py:merge_role``): their contents
    concatenated (text joined by a newline when both are strings)."""
    out: list[Message] = []
    for m in messages:
        if out and out[-1]["role"] == m["role"]:
            a, b = out[-1]["content"], m["content"]
            if isinstance(a, str) and isinstance(b, str):
                content = a + "\n" + b
            else:
                as_parts = [(c if not isinstance(c, str) else [{"type": "text", "text": c}]) for c in (a, b)]
                content = as_parts[0] + as_parts[1]
            out[-1] = {"role": m["role"], "content": content}
        else:
            out.append(dict(m))
    return out


def _conversation(episode, prefix: list[tuple[str, list[Part]]], settings: AgentSettings) -> list[Message]:
    header = getattr(episode, "text_observation_header", "Game scene:")
    messages = []
    for role, parts in prefix:
        messages.append(_to_message(role, _render_parts(parts, settings, header)))
    if not settings.system_role and messages and messages[0]["role"] == "system":
        system = messages.pop(0)
        first = messages[0]
        sys_part = [{"type": "text", "text": system["content"]}]
        body = first["content"] if not isinstance(first["content"], str) else [
            {"type": "text", "text": first["content"]}]
        messages[0] = _to_message("user", sys_part + body)
    return merge_roles(messages) if settings.merge_roles else messages


def _call(policy: Policy, batch: list[list[Message]], settings: AgentSettings) -> list[str]:
    size = settings.batch_size or len(batch) or 1
    replies: list[str] = []
    for i in range(0, len(batch), size):
        chunk = batch[i:i + size]
        out = list(policy(chunk))
        if len(out) != len(chunk):
            raise ValueError(f"policy returned {len(out)} replies for {len(chunk)} conversations")
        replies.extend(r if isinstance(r, str) else "" for r in out)
    return replies


def _bar(settings: AgentSettings, total: int, desc: str):
    if not settings.progress:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="turn" if settings.mode == "online" else "episode")


def first_conversation(episode, settings: AgentSettings) -> list[Message]:
    """The conversation the loop of `settings.mode` sends first for `episode`, exactly as a policy gets
    it (Global: system, then the scene and the format prompt; Online: system, the format prompt and the
    initial scene, merged into one user message with `merge_roles`). Training data uses it, so that RL
    and evaluation show a model the same prompt."""
    if settings.mode == "global":
        user = [Part(scene=episode.scene(settings)), Part(text=episode.format_prompt("global"))]
        return _conversation(episode, [("system", [Part(text=episode.system_prompt)]), ("user", user)], settings)
    prefix = [("system", [Part(text=episode.system_prompt)]), ("user", [Part(text=episode.format_prompt("online"))]),
              ("user", [Part(scene=episode.scene(settings)), Part(text=INIT_SCENE_TEXT)])]
    return _conversation(episode, prefix, settings)


def next_user_message(episode, settings: AgentSettings, acted: bool) -> Message:
    """Online: the user message that follows a reply, as the loop writes it: the new scene and the
    continue text after an action, the regenerate text after a reply that did not parse."""
    parts = [Part(scene=episode.scene(settings)), Part(text=CONTINUE_TEXT)] if acted else [Part(text=REGENERATE_TEXT)]
    header = getattr(episode, "text_observation_header", "Game scene:")
    return _to_message("user", _render_parts(parts, settings, header))


# ---- Global ---------------------------------------------------------------------------------------
def run_global(episodes: Sequence, policy: Policy, settings: AgentSettings) -> list[Transcript]:
    """MageBench's Global loop for every episode at once; returns one transcript per episode."""
    parser = get_parser(settings.parser)
    batch = [first_conversation(ep, settings) for ep in episodes]
    bar = _bar(settings, len(episodes), "global")
    replies = _call(policy, batch, settings)
    transcripts = []
    for ep, reply in zip(episodes, replies):
        actions = parser.plan(reply, ep.actions)
        t = Transcript(replies=[reply], parsed=[actions], parse_failures=0 if actions else 1)
        for a in actions:
            if ep.act(a):
                break
        transcripts.append(t)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return transcripts


# ---- Online ---------------------------------------------------------------------------------------
def _scene_count(parts: list[Part]) -> int:
    return sum(1 for p in parts if p.scene is not None)


def trim_memory(memory: list[tuple[str, list[Part]]], max_memory: int, max_images: int):
    """MageBench's memory window (``Flow/Online_HL_FBandSB.py:89-110``): keep the last
    ``2 * max_memory`` messages, then drop the scenes of every message older than the newest ones
    that together hold at most `max_images` scenes. Returns the new memory (scene removal is
    permanent, as there). Raises ValueError when the newest message alone holds too many scenes."""
    used = min(len(memory), 2 * max_memory)
    memory = memory[len(memory) - used:]
    keep_from = None
    seen = 0
    for i in range(len(memory) - 1, -1, -1):
        seen += _scene_count(memory[i][1])
        if seen > max_images:
            break
        keep_from = i
    if keep_from is None:
        raise ValueError(f"the newest message holds more than max_images={max_images} scenes")
    return [(role, parts if i >= keep_from else [p for p in parts if p.scene is None])
            for i, (role, parts) in enumerate(memory)]


def run_online(episodes: Sequence, policy: Policy, settings: AgentSettings) -> list[Transcript]:
    """MageBench's Online loop for every episode, batched per turn; one transcript per episode."""
    parser = get_parser(settings.parser)
    prefixes = [[("system", [Part(text=ep.system_prompt)]), ("user", [Part(text=ep.format_prompt("online"))])]
                for ep in episodes]
    memories = [[("user", [Part(scene=ep.scene(settings)), Part(text=INIT_SCENE_TEXT)])] for ep in episodes]
    transcripts = [Transcript() for _ in episodes]
    running = [i for i, ep in enumerate(episodes) if not ep.done]
    bar = _bar(settings, settings.max_turns * len(running), "online")
    for _turn in range(settings.max_turns):
        if not running:
            break
        batch = []
        for i in running:
            memories[i] = trim_memory(memories[i], settings.max_memory, settings.max_images)
            batch.append(_conversation(episodes[i], prefixes[i] + memories[i], settings))
        replies = _call(policy, batch, settings)
        still = []
        for i, reply in zip(running, replies):
            ep, t = episodes[i], transcripts[i]
            action = parser.action(reply, ep.actions)
            t.replies.append(reply)
            t.parsed.append([action] if action is not None else [])
            memories[i].append(("assistant", [Part(text=reply)]))
            user: list[Part] = []
            if action is not None:
                if ep.act(action):
                    continue  # ended: MageBench stops before writing the next user turn
                user.append(Part(scene=ep.scene(settings)))
                user.append(Part(text=CONTINUE_TEXT))
            else:
                t.parse_failures += 1
                user.append(Part(text=REGENERATE_TEXT))
            memories[i].append(("user", user))
            still.append(i)
        if bar is not None:
            bar.update(len(running))
        running = still
    if bar is not None:
        bar.close()
    return transcripts


def run_episodes(episodes: Sequence, policy: Policy, settings: AgentSettings) -> list[dict]:
    """Play every episode in `settings.mode`; returns per episode ``episode.result()`` plus its
    ``replies``, ``parsed`` actions per reply, ``parse_failures`` and ``turns``."""
    run = run_global if settings.mode == "global" else run_online
    transcripts = run(episodes, policy, settings)
    out = []
    for ep, t in zip(episodes, transcripts):
        r = ep.result()
        r.update(replies=t.replies, parsed=t.parsed, parse_failures=t.parse_failures, turns=len(t.replies))
        out.append(r)
    return out
