"""`chat`: one answer, streamed or whole, or a conversation read from a (fake) terminal."""

from __future__ import annotations

import io
import json
import sys
from typing import Any

import pytest

from finetune_kit.cli.chat import Conversation, chat_loop
from tests.cli.conftest import MODEL, Cli

HELIUM = (
    "Helium a noble gas so rare - It's lighter than air, so beware - It's in balloons, you "
    "know - And in space, it does glow - It's the second lightest, take care"
)
"""What the model tuned on the bundled data answers to "Tell me about Helium"."""
BANNER = "/reset forgets the conversation; /exit (or Ctrl-D) ends it"


@pytest.fixture
def tuned(cli: Cli) -> str:
    """A model tuned on the bundled data (the job watched to its end)."""
    job_id = cli.tune("--suffix", "elle")
    cli("watch", job_id)
    name = cli.sim.jobs[job_id].fine_tuned_model
    assert name is not None
    return name


def _spy(cli: Cli) -> list[dict[str, Any]]:
    """Record the arguments of every chat request the command makes."""
    client = cli.sim.client(max_retries=0)
    sent: list[dict[str, Any]] = []
    create = client.chat.completions.create

    def recording(**kwargs: Any) -> Any:
        sent.append({**kwargs, "messages": [dict(m) for m in kwargs["messages"]]})
        return create(**kwargs)

    client.chat.completions.create = recording  # type: ignore[method-assign]
    cli.ctx.client = client
    return sent


def test_one_answer_and_exit(cli: Cli, tuned: str) -> None:
    """The answer's text, nothing else; exit 0."""
    result = cli("chat", tuned, "Tell me about Helium")
    assert (result.code, result.out, result.err) == (0, HELIUM + "\n", "")


def test_streamed_answer_is_the_same_text(cli: Cli, tuned: str) -> None:
    """--stream prints the pieces as they come: the same text in the end."""
    sent = _spy(cli)
    result = cli("chat", tuned, "Tell me about Helium", "--stream")
    assert (result.code, result.out) == (0, HELIUM + "\n")
    assert sent[0]["stream"] is True


def test_system_temperature_and_max_tokens_reach_the_request(cli: Cli, tuned: str) -> None:
    """--system first, --temperature, --max-tokens (max_completion_tokens); a cut is said."""
    sent = _spy(cli)
    result = cli(
        "chat", tuned, "Tell me about Helium", "--system", "Be brief.", "--temperature", "0.5",
        "--max-tokens", "5",
    )  # fmt: skip
    assert (result.code, result.out) == (0, "Helium a noble gas\n")
    assert result.err == "(the answer was cut at --max-tokens 5)\n"
    assert sent == [
        {
            "model": tuned,
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Tell me about Helium"},
            ],
            "temperature": 0.5,
            "max_completion_tokens": 5,
        }
    ]


def test_json_prints_the_raw_completion(cli: Cli, tuned: str) -> None:
    """--json: the ChatCompletion; with --stream, each chunk on its own line."""
    whole = json.loads(cli("chat", tuned, "Tell me about Helium", "--json").out)
    assert whole["object"] == "chat.completion"
    assert whole["model"] == tuned
    assert whole["choices"][0]["message"]["content"] == HELIUM
    assert whole["usage"]["completion_tokens"] > 0
    lines = cli("chat", tuned, "Tell me about Helium", "--json", "--stream").out.splitlines()
    chunks = [json.loads(line) for line in lines]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == HELIUM
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_a_model_that_does_not_exist_fails_at_once(cli: Cli) -> None:
    """404: one line, exit 3, and no time spent waiting for it to appear."""
    before = cli.sim.clock.now()
    result = cli("chat", "ft:gpt-4o-mini-2024-07-18:acme::nope", "hi")
    assert (result.code, result.out) == (3, "")
    assert result.err == (
        "finetune-kit: error: not found (404): The model `ft:gpt-4o-mini-2024-07-18:acme::nope` "
        "does not exist or you do not have access to it.\n"
    )
    assert cli.sim.clock.now() == before


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--temperature", "3"], "--temperature must be from 0 to 2, not 3"),
        (["--temperature", "nan"], "--temperature must be from 0 to 2, not nan"),
        (["--max-tokens", "0"], "--max-tokens must be at least 1, not 0"),
        (["--max-tokens", "x"], "argument --max-tokens: invalid int value: 'x'"),
    ],
)
def test_bad_flags_are_one_line_exit_2(cli: Cli, flags: list[str], expected: str) -> None:
    """Nothing is sent."""
    result = cli("chat", MODEL, "hi", *flags)
    assert result.code == 2
    assert result.err.count("\n") == 1
    assert expected in result.err
    assert cli.sim.calls["chat.create"] == 0


def test_without_a_terminal_the_prompt_is_read_from_stdin(
    cli: Cli, tuned: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`echo ... | finetune-kit chat MODEL`: one answer; an empty stdin is exit 2."""
    monkeypatch.setattr(sys, "stdin", io.StringIO("Tell me about Helium\n"))
    assert cli("chat", tuned).out == HELIUM + "\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n"))
    empty = cli("chat", tuned)
    assert empty.code == 2
    assert empty.err.startswith("finetune-kit: error: the prompt is empty: ")
    assert empty.err.count("\n") == 1


def test_on_a_terminal_a_conversation_until_end_of_input(
    cli: Cli, tuned: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each question with the conversation so far; /reset forgets it; Ctrl-D ends (exit 0)."""
    sent = _spy(cli)
    cli.ctx.interactive = True
    typed = "Tell me about Helium\n\nTell me about Neon\n/reset\n/help\nTell me about Helium\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(typed))
    result = cli("chat", tuned, "--system", "Limericks.")
    assert result.code == 0, result.err
    neon = cli("chat", tuned, "Tell me about Neon").out
    assert result.out == (
        f"Chatting with {tuned}: {BANNER}.\n"
        f"> {HELIUM}\n"
        "> "  # an empty line asks again
        f"> {neon}"
        "> (the conversation is forgotten)\n"
        f"> (unknown command /help: {BANNER})\n"
        f"> {HELIUM}\n"
        "> \n"  # end of input
    )
    system = {"role": "system", "content": "Limericks."}
    helium = {"role": "user", "content": "Tell me about Helium"}
    answer = {"role": "assistant", "content": HELIUM}
    assert [s["messages"] for s in sent[:3]] == [
        [system, helium],
        [system, helium, answer, {"role": "user", "content": "Tell me about Neon"}],
        [system, helium],  # after /reset
    ]


def test_exit_ends_the_conversation(cli: Cli, tuned: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """/exit stops reading: what follows is never sent."""
    cli.ctx.interactive = True
    monkeypatch.setattr(sys, "stdin", io.StringIO("/exit\nTell me about Helium\n"))
    result = cli("chat", tuned)
    assert (result.code, result.out) == (0, f"Chatting with {tuned}: {BANNER}.\n> ")
    assert cli.sim.calls["chat.create"] == 0


def test_the_conversation_survives_a_rate_limit(cli: Cli, tuned: str) -> None:
    """A 429 is said on stderr and the question can be asked again; the history stays clean."""
    cli.sim.faults.rate_limit("chat.create", retry_after=1)
    conversation = Conversation(cli.sim.client(max_retries=0), tuned)
    typed = iter(["Tell me about Helium", "Tell me about Helium"])

    def read(prompt: str) -> str:
        sys.stdout.write(prompt)
        try:
            return next(typed)
        except StopIteration:
            raise EOFError from None

    cli.capsys.readouterr()
    assert chat_loop(conversation, read) == 0
    captured = cli.capsys.readouterr()
    assert captured.out == f"Chatting with {tuned}: {BANNER}.\n> > {HELIUM}\n> \n"
    assert captured.err == (
        "finetune-kit: error: rate limited (429): Rate limit reached for requests. Please try "
        "again later.; try again later (ask again)\n"
    )
    assert conversation.messages == [
        {"role": "user", "content": "Tell me about Helium"},
        {"role": "assistant", "content": HELIUM},
    ]


def test_another_failure_ends_the_conversation(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """A model that does not exist: one line, exit 3, no more questions read."""
    cli.ctx.interactive = True
    monkeypatch.setattr(sys, "stdin", io.StringIO("hi\nhello\n"))
    result = cli("chat", "ft:gpt-4o-mini-2024-07-18:acme::nope")
    assert result.code == 3
    assert result.err.startswith("finetune-kit: error: not found (404): ")
    assert cli.sim.calls["chat.create"] == 1
