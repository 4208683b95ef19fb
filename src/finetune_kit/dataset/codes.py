"""Every finding code `Dataset.validate` can report, with its severity and meaning.

Codes are stable: CI jobs may match on them. New codes may be added in minor releases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["CODES", "Code", "Severity"]

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Code:
    """A finding code: its severity and a one-line description for the docs."""

    name: str
    severity: Severity
    description: str


_E: Severity = "error"
_W: Severity = "warning"

CODES: dict[str, Code] = {
    c.name: c
    for c in (
        # the file and the line
        Code(
            "not_jsonl_text",
            _E,
            "The file is not JSONL text (binary, compressed, or not UTF-8); nothing else is checked.",
        ),
        Code("invalid_utf8", _E, "The line has bytes that are not UTF-8."),
        Code("bom", _E, "The file starts with a UTF-8 byte-order mark."),
        Code("blank_line", _W, "An empty line; it is skipped."),
        Code("invalid_json", _E, "The line is not valid JSON."),
        Code("not_an_object", _E, "The line is JSON but not an object."),
        Code("unknown_format", _E, "The object matches no training format."),
        Code("mixed_formats", _E, "The line's format differs from the file's."),
        Code("legacy_format", _W, "prompt/completion rows: only legacy base models take them."),
        Code("too_few_examples", _E, "Fewer than 10 examples."),
        # structure
        Code("missing_key", _E, "A required key is missing."),
        Code("unknown_key", _E, "A key the format does not allow."),
        Code("wrong_type", _E, "A value has the wrong JSON type."),
        Code("invalid_value", _E, "A value outside the allowed set."),
        Code("empty_messages", _E, "`messages` is an empty list."),
        Code("unknown_role", _E, "A role the format does not allow."),
        Code("developer_role", _W, "A `developer` message in supervised data (use `system`)."),
        Code("empty_content", _E, "A message's content is empty."),
        Code("whitespace_content", _W, "A message's content is only white space."),
        Code("no_assistant_message", _E, "No assistant message to learn from."),
        Code("no_trained_assistant", _E, "Every assistant message has weight 0."),
        Code("invalid_weight", _E, "`weight` is not 0 or 1, or is not on an assistant message."),
        Code("special_token", _E, "Text contains a special token string such as <|endoftext|>."),
        # tools and functions
        Code("tool_arguments_not_json", _E, "Tool-call arguments are not a JSON string."),
        Code("duplicate_tool_call_id", _E, "Two tool calls share an id."),
        Code("tool_call_id_mismatch", _E, "A tool message answers no open tool call."),
        Code("tool_call_unanswered", _E, "A tool call gets no tool message."),
        Code("tool_not_declared", _W, "A tool call names a function missing from `tools`."),
        Code("legacy_functions", _W, "`functions`/`function_call` are deprecated: use tools."),
        # images
        Code("image_not_allowed", _E, "An image outside a user message."),
        Code("invalid_image", _E, "An image URL or data URL that can't be used."),
        Code("image_too_large", _E, "An inline image over 10 MB."),
        Code("too_many_images", _E, "More than 64 images in one example."),
        Code("many_images", _W, "More than 10 images in one example (OpenAI's documented cap)."),
        Code("model_no_vision", _W, "Images in data for a model without vision fine-tuning."),
        # preference pairs and reinforcement rows
        Code("dpo_output_invalid", _E, "A DPO output is not exactly one assistant message."),
        Code("dpo_identical_outputs", _W, "Preferred and non-preferred outputs are identical."),
        Code("dpo_spec_field_names", _W, "`*_completion` field names: the guide uses `*_output`."),
        Code("dpo_input_ends_with_assistant", _W, "The DPO input ends with an assistant message."),
        Code(
            "rft_last_message_not_user", _E, "A reinforcement row does not end with a user message."
        ),
        # about the whole dataset, or the model it is for
        Code("duplicate_example", _W, "The same example appears on an earlier line."),
        Code(
            "train_validation_overlap", _E, "A training example also appears in the validation set."
        ),
        Code("example_too_long", _W, "Longer than the model's training context; it is truncated."),
        Code(
            "model_format_mismatch", _E, "The row's format does not fit the model (chat vs legacy)."
        ),
        Code(
            "unknown_model",
            _W,
            "A model the provider lists but finetune-kit does not know: counts use o200k_base.",
        ),
        Code(
            "template_cannot_render",
            _E,
            "The open-weights model's chat template can't render the example (a role it "
            "rejects, tools or tool calls it ignores).",
        ),
    )
}
"""All codes by name."""
