"""An offline simulator of the fine-tuning API, to test code that fine-tunes without a network.

```python
from finetune_kit.testing import Simulator

sim = Simulator()
client = sim.client()           # openai.OpenAI, answered by the simulator
aclient = sim.async_client()    # openai.AsyncOpenAI
azure = sim.azure_client()      # openai.AzureOpenAI
```

finetune-kit waits on the simulator's clock when a simulator's client is given no `sleep=`
(see `clock_of`).

See the "Testing your code" guide.
"""

from finetune_kit.testing.adapters import clock_of
from finetune_kit.testing.clock import Clock, ScaledClock, VirtualClock
from finetune_kit.testing.faults import Fault, Faults, JobFault
from finetune_kit.testing.jobs import Timing
from finetune_kit.testing.platform import DEFAULT_SHUTDOWN_DATES
from finetune_kit.testing.server import SimulatorServer
from finetune_kit.testing.simulator import Simulator
from finetune_kit.testing.wire import SimRequest, SimResponse

__all__ = [
    "DEFAULT_SHUTDOWN_DATES",
    "Clock",
    "Fault",
    "Faults",
    "JobFault",
    "ScaledClock",
    "SimRequest",
    "SimResponse",
    "Simulator",
    "SimulatorServer",
    "Timing",
    "VirtualClock",
    "clock_of",
]
