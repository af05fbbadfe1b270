"""Orchestrator for Python: an asyncio and a blocking client of orchestrator.v1, and a task
runner (``orchestrator.runner``).

::

    import asyncio
    from orchestrator import AsyncClient

    async def main() -> None:
        async with AsyncClient("127.0.0.1:50052") as client:
            submitted = await client.submit("cpu_short", {"text": "hello"})
            result = await client.wait_for_result(submitted.task_id, timeout=60)
            print(result.state, result.result)  # succeeded {'text': 'hello'}

    asyncio.run(main())

The blocking :class:`Client` has the same methods. Failed calls raise :class:`OrchestratorError`
subclasses, one per gRPC status (``orchestrator.errors``).
"""

# The public names are the client's and the errors' own lists, re-exported as they stand.
from . import client as _client
from . import errors as _errors
from .client import *  # noqa: F401,F403
from .errors import *  # noqa: F401,F403

__all__ = [*_client.__all__, *_errors.__all__]
