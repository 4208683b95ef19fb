"""The local inference engine on a tiny random model: n, stop, max_tokens, greedy, stream."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from finetune_kit.exceptions import ConfigurationError
from finetune_kit.local import ChatParams, Choice, InferenceEngine, ServedModel

MESSAGES = [{"role": "user", "content": "What is the capital of Peru?"}]


@pytest.fixture(scope="module")
def infer() -> InferenceEngine:
    return InferenceEngine(device="cpu")


@pytest.fixture(scope="module")
def base(tiny_model_dir: Path) -> ServedModel:
    return ServedModel("tiny", str(tiny_model_dir))


def prompt_tokens(tiny_model_dir: Path) -> int:
    transformers = pytest.importorskip("transformers")
    tok = transformers.AutoTokenizer.from_pretrained(tiny_model_dir)
    encoded = tok.apply_chat_template(
        MESSAGES, add_generation_prompt=True, tokenize=True, return_dict=True
    )
    return len(encoded["input_ids"])


def test_greedy_is_deterministic_and_max_tokens_ends_with_length(
    infer: InferenceEngine, base: ServedModel, tiny_model_dir: Path
) -> None:
    greedy = ChatParams(temperature=0, max_tokens=6)
    first = infer.complete(base, MESSAGES, greedy)
    assert infer.complete(base, MESSAGES, greedy) == first
    [choice] = first
    assert choice.finish_reason == "length"
    assert choice.completion_tokens == 6
    assert choice.prompt_tokens == prompt_tokens(tiny_model_dir)
    # n greedy choices are n copies of the one answer
    assert infer.complete(base, MESSAGES, ChatParams(temperature=0, max_tokens=6, n=2)) == first * 2


def test_n_sampled_choices_are_reproducible_with_a_seed(
    infer: InferenceEngine, base: ServedModel
) -> None:
    params = ChatParams(temperature=1.0, max_tokens=8, n=3, seed=11)
    choices = infer.complete(base, MESSAGES, params)
    assert len(choices) == 3
    assert infer.complete(base, MESSAGES, params) == choices
    assert len({c.text for c in choices}) > 1  # sampling, not three copies


def test_a_stop_string_cuts_the_answer(infer: InferenceEngine, base: ServedModel) -> None:
    sampled = ChatParams(temperature=1.0, max_tokens=12, seed=5)
    [whole] = infer.complete(base, MESSAGES, sampled)
    text = whole.text
    stop = text[4:6]
    assert len(text) > 6
    [cut] = infer.complete(base, MESSAGES, replace(sampled, stop=("never there", stop)))
    assert cut.text == text[: text.find(stop)]
    assert cut.finish_reason == "stop"
    assert cut.completion_tokens < whole.completion_tokens
    # only the generated text counts: the prompt ends with "\n", which does not start a match
    across = "\n" + text[:2]
    assert across not in text
    assert infer.complete(base, MESSAGES, replace(sampled, stop=(across,))) == [whole]


def test_stream_yields_the_same_answer_in_pieces(infer: InferenceEngine, base: ServedModel) -> None:
    params = ChatParams(temperature=1.0, max_tokens=10, seed=5)
    [whole] = infer.complete(base, MESSAGES, params)
    finished: list[Choice] = []
    pieces = list(infer.stream(base, MESSAGES, params, on_finish=finished.append))
    assert "".join(pieces) == whole.text
    assert finished == [whole]
    # with a stop string, the stream ends before it
    stop = whole.text[4:6]
    streamed = "".join(infer.stream(base, MESSAGES, replace(params, stop=(stop,))))
    assert streamed == whole.text[: whole.text.find(stop)]


def test_closing_a_stream_early_frees_the_engine(infer: InferenceEngine, base: ServedModel) -> None:
    stream = infer.stream(base, MESSAGES, ChatParams(temperature=0, max_tokens=50))
    next(stream)
    stream.close()
    [choice] = infer.complete(base, MESSAGES, ChatParams(temperature=0, max_tokens=2))
    assert choice.completion_tokens == 2


def test_a_folder_that_is_not_a_causal_lm_is_refused_clearly(
    infer: InferenceEngine, tmp_path: Path
) -> None:
    with pytest.raises(ConfigurationError) as info:
        infer.load(ServedModel("nothing", str(tmp_path)))
    assert str(info.value).startswith(
        f"{tmp_path} is not a causal language model transformers can load ("
    )
