"""`chat`: ask a model (tuned, a checkpoint, or a base model) from the terminal.

With a prompt: one answer, then exit. Without one, on a terminal: a small conversation, as in
OpenAI's Playground (`/reset` forgets it, `/exit` or Ctrl-D ends it); with stdin piped, the
prompt is read from it. On a terminal the answer is printed as it arrives (streamed).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from finetune_kit.cli.context import Context
from finetune_kit.cli.errors import EXIT_OK, explain
from finetune_kit.cli.provider import add_provider_flags
from finetune_kit.exceptions import ConfigurationError

if TYPE_CHECKING:  # the SDK is loaded when the command runs, not to parse the command line
    from openai import OpenAI

__all__ = ["Conversation", "add_chat_command", "chat_loop"]

HELP = "/reset forgets the conversation; /exit (or Ctrl-D) ends it"


def _again() -> tuple[type[Exception], ...]:
    """Failures the conversation survives: said on stderr, then the next question is read."""
    import openai  # noqa: PLC0415 - loaded already: the conversation has a client

    return (openai.RateLimitError, openai.APIConnectionError, openai.InternalServerError)


def add_chat_command(sub: argparse._SubParsersAction[Any]) -> None:
    """Register `chat`."""
    chat = sub.add_parser(
        "chat",
        help="ask a model (tuned, checkpoint or base): one answer, or a conversation on a terminal",
        description="Ask a model. With PROMPT: print one answer and exit. Without it, on a "
        f"terminal: a conversation ({HELP}); with stdin piped, the prompt is read from stdin. "
        "On a terminal the answer is printed as it arrives.",
    )
    chat.add_argument("model", help="the model: ft:..., a checkpoint, a base model, a deployment")
    chat.add_argument("prompt", nargs="?", help="the question (default: a conversation)")
    chat.add_argument("--system", help="a system message, first in every request")
    chat.add_argument("--temperature", type=float, help="0 to 2 (default: the provider's)")
    chat.add_argument("--max-tokens", type=int, help="the most tokens an answer may have")
    chat.add_argument(
        "--json", action="store_true", help="print the raw completion (JSON) instead of its text"
    )
    chat.add_argument(
        "--stream",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="print the answer as it arrives (default: on a terminal, unless --json)",
    )
    add_provider_flags(chat)
    chat.set_defaults(handler=run_chat)


def _params(args: argparse.Namespace) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if args.temperature is not None:
        if not (math.isfinite(args.temperature) and 0 <= args.temperature <= 2):
            raise ConfigurationError(f"--temperature must be from 0 to 2, not {args.temperature:g}")
        params["temperature"] = args.temperature
    if args.max_tokens is not None:
        if args.max_tokens < 1:
            raise ConfigurationError(f"--max-tokens must be at least 1, not {args.max_tokens}")
        params["max_completion_tokens"] = args.max_tokens
    return params


@dataclass
class Conversation:
    """The messages exchanged with one model, and how answers are printed."""

    client: OpenAI
    model: str
    system: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    stream: bool = False
    """Print the answer piece by piece as it arrives."""
    as_json: bool = False
    """Print the raw completion (or, streaming, each chunk) as JSON."""
    messages: list[dict[str, str]] = field(default_factory=list)
    """The user and assistant messages so far (the system message is added to each request)."""

    def reset(self) -> None:
        """Forget the conversation (the system message stays)."""
        self.messages.clear()

    def _request(self) -> list[Any]:
        first = [{"role": "system", "content": self.system}] if self.system is not None else []
        return [*first, *self.messages]

    def ask(self, prompt: str) -> str:
        """Send `prompt` with the conversation so far; print the answer and return its text.

        A failed request leaves the conversation as it was.
        """
        self.messages.append({"role": "user", "content": prompt})
        try:
            answer, finish = self._streamed() if self.stream else self._whole()
        except BaseException:
            self.messages.pop()
            raise
        self.messages.append({"role": "assistant", "content": answer})
        if finish == "length" and not self.as_json:
            limit = self.params.get("max_completion_tokens")
            why = f"--max-tokens {limit}" if limit else "the model's limit"
            print(f"(the answer was cut at {why})", file=sys.stderr)
        return answer

    def _whole(self) -> tuple[str, str | None]:
        response: object = self.client.chat.completions.create(
            model=self.model, messages=self._request(), **self.params
        )
        if isinstance(response, str):  # a web page, not the API
            from finetune_kit._core.errors import incompatible  # noqa: PLC0415

            url = f"{str(self.client.base_url).rstrip('/')}/chat/completions"
            raise incompatible(
                url, status=200, content_type="text/html" if "<" in response else None
            )
        completion: Any = response
        choice = completion.choices[0] if completion.choices else None
        text = ""
        if choice is not None:
            text = choice.message.content or choice.message.refusal or ""
        print(completion.model_dump_json(indent=2) if self.as_json else text, flush=True)
        return text, choice.finish_reason if choice is not None else None

    def _streamed(self) -> tuple[str, str | None]:
        parts: list[str] = []
        finish: str | None = None
        with self.client.chat.completions.create(
            model=self.model, messages=self._request(), stream=True, **self.params
        ) as stream:
            for chunk in stream:
                if self.as_json:
                    print(chunk.model_dump_json(), flush=True)
                for choice in chunk.choices:
                    if choice.index != 0:
                        continue
                    piece = choice.delta.content or choice.delta.refusal or ""
                    if piece:
                        parts.append(piece)
                        if not self.as_json:
                            print(piece, end="", flush=True)
                    finish = choice.finish_reason or finish
        if not self.as_json:
            print(flush=True)
        return "".join(parts), finish


def chat_loop(conversation: Conversation, read: Callable[[str], str] = input) -> int:
    """Read questions until `/exit` or end of input, answering each in the conversation.

    `/reset` forgets the conversation. A rate limit, a network failure or a server error is
    said on stderr and the question can be asked again; other failures end the loop.
    """
    print(f"Chatting with {conversation.model}: {HELP}.")
    while True:
        try:
            line = read("> ")
        except EOFError:
            print()
            return EXIT_OK
        text = line.strip()
        if not text:
            continue
        if text in ("/exit", "/quit"):
            return EXIT_OK
        if text == "/reset":
            conversation.reset()
            print("(the conversation is forgotten)")
            continue
        if text.startswith("/") and " " not in text:
            print(f"(unknown command {text}: {HELP})")
            continue
        try:
            conversation.ask(line)
        except _again() as exc:
            message, _ = explain(exc)
            print(f"finetune-kit: error: {message} (ask again)", file=sys.stderr)


def run_chat(args: argparse.Namespace, ctx: Context) -> int:
    """`chat`."""
    params = _params(args)
    stream = args.stream if args.stream is not None else not args.json and sys.stdout.isatty()
    conversation = Conversation(
        ctx.make_client(args),
        args.model,
        system=args.system,
        params=params,
        stream=stream,
        as_json=args.json,
    )
    if args.prompt is not None:
        prompt = args.prompt
    elif ctx.can_ask():
        return chat_loop(conversation)
    else:
        prompt = sys.stdin.read()
    if not prompt.strip():
        raise ConfigurationError(
            'the prompt is empty: finetune-kit chat MODEL "a question" (or, on a terminal, '
            "finetune-kit chat MODEL for a conversation)"
        )
    conversation.ask(prompt)
    return EXIT_OK
