"""The API's routes, one module per resource, each handler registered by `@route`.

Importing this package registers them all in `ROUTES`, in the order they are matched.
"""

from __future__ import annotations

from finetune_kit.platform.routes import (  # noqa: F401 - imported to register their routes
    azure,
    batches,
    chat,
    files,
    jobs,
    models,
    uploads,
)
from finetune_kit.platform.routes._base import ROUTES, Context, Handler, Route, route

__all__ = ["ROUTES", "Context", "Handler", "Route", "route"]
