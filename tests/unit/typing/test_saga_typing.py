"""Type checkers understand saga definitions and the coordinator under mypy --strict."""

import textwrap
from pathlib import Path

import pytest
from mypy import api

GOOD = """
    from hexkernel.adapters.memory.saga_store import InMemorySagaStore
    from hexkernel.application import SagaCoordinator
    from hexkernel.core.sagas import (
        RetryPolicy, SagaDefinition, SagaState, SagaStatus, SagaStep, StepContext,
    )


    async def reserve(ctx: StepContext) -> dict[str, str]:
        return {"key": ctx.idempotency_key}


    async def release(ctx: StepContext) -> None:
        assert ctx.failure is not None


    definition = SagaDefinition(
        "orders.CreateOrder",
        [
            SagaStep("reserve", action=reserve, compensation=release,
                     retry=RetryPolicy(attempts=2), timeout=5.0, awaits_reply=True),
        ],
    )


    async def main() -> SagaState:
        sagas = SagaCoordinator(InMemorySagaStore(), [definition], lease=5.0)
        state = await sagas.start(definition, {"order_id": "ord_1"}, saga_id="s1")
        await sagas.reply(state.id, "reserve", failure="insufficient_credit")
        failed: list[SagaState] = await sagas.find(status=SagaStatus.FAILED)
        return failed[0] if failed else await sagas.get(state.id)
"""

BAD = """
    from hexkernel.core.sagas import SagaDefinition, SagaStep, StepContext


    def not_async(ctx: StepContext) -> None: ...


    SagaStep("reserve", action=not_async)
    SagaDefinition("orders.CreateOrder", ["reserve"])
"""


def _mypy(tmp_path: Path, source: str) -> tuple[str, int]:
    module = tmp_path / "usercode.py"
    module.write_text(textwrap.dedent(source))
    out, err, status = api.run(
        ["--strict", "--no-incremental", "--cache-dir", str(tmp_path / ".mypy"), str(module)]
    )
    return out + err, status


@pytest.mark.slow
def test_correct_saga_code_passes_mypy_strict(tmp_path):
    output, status = _mypy(tmp_path, GOOD)
    assert status == 0, output


@pytest.mark.slow
def test_a_synchronous_action_and_a_step_given_by_name_are_type_errors(tmp_path):
    output, status = _mypy(tmp_path, BAD)
    assert status == 1, output
    assert output.count("error:") == 2, output
