"""Graders for `compare`: a grader turns (output, item) into a `Grade`.

`item` holds `prompt` and, when the prompts came with one, `reference`. Any callable of that
shape works as a grader.
"""

from finetune_kit._core.scoring import Grade, Grader, contains, exact, is_json, json_schema, regex
from finetune_kit.judge import llm_judge

__all__ = ["Grade", "Grader", "contains", "exact", "is_json", "json_schema", "llm_judge", "regex"]
