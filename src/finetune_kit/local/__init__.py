"""Fine-tuning and chat on your own hardware: the engines of the local backend.

- `TrainingEngine` trains `TrainingJob`s in worker processes with TRL (`SFTTrainer` for chat
  rows, LoRA through PEFT by default; `DPOTrainer` for preference pairs) and reports
  `EngineEvent`s (`Started`, `Metrics`, `CheckpointSaved`, `Message`, `Succeeded`, `Failed`,
  `Cancelled`, `Paused`).
- `InferenceEngine` answers chat requests with transformers (a base model, or a base and a
  PEFT adapter), in this process.

Needs the `local` extra (torch, transformers, trl, peft, accelerate, datasets); importing this
package does not import any of them: they load when a job trains or a model answers.
"""

from finetune_kit.local.events import (
    Cancelled,
    ChatParams,
    CheckpointSaved,
    Choice,
    EngineEvent,
    Failed,
    Message,
    Metrics,
    Paused,
    ServedModel,
    Started,
    Succeeded,
    TrainingJob,
)
from finetune_kit.local.inference import InferenceEngine
from finetune_kit.local.options import (
    FULL_BASE_LEARNING_RATE,
    LORA_BASE_LEARNING_RATE,
    TrainOptions,
    resolve_auto,
)
from finetune_kit.local.training import TrainingEngine

__all__ = [
    "FULL_BASE_LEARNING_RATE",
    "LORA_BASE_LEARNING_RATE",
    "Cancelled",
    "ChatParams",
    "CheckpointSaved",
    "Choice",
    "EngineEvent",
    "Failed",
    "InferenceEngine",
    "Message",
    "Metrics",
    "Paused",
    "ServedModel",
    "Started",
    "Succeeded",
    "TrainOptions",
    "TrainingEngine",
    "TrainingJob",
    "resolve_auto",
]
