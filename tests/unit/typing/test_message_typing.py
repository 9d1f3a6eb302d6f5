"""Type checkers understand messages, aggregates and the buses under mypy --strict."""

import textwrap
from pathlib import Path

import pytest
from mypy import api

GOOD = """
    from decimal import Decimal

    import attrs

    from hexkernel.application import CommandBus, EventSourcedRepository, QueryBus
    from hexkernel.core.eventsourcing import Aggregate, applies
    from hexkernel.core.messages import Command, Event, Query, message


    @message("shop.PlaceOrder")
    class PlaceOrder(Command):
        order_id: str
        total: Decimal
        notes: list[str] = attrs.field(factory=list)


    @message("shop.OrderPlaced")
    class OrderPlaced(Event):
        order_id: str
        total: Decimal


    @message("shop.GetTotal")
    class GetTotal(Query[Decimal]):
        order_id: str


    @attrs.define(kw_only=True)
    class Order(Aggregate):
        total: Decimal = Decimal(0)

        def place(self, total: Decimal) -> None:
            self.record(OrderPlaced(order_id=self.id, total=total))

        @applies(OrderPlaced)
        def _placed(self, event: OrderPlaced) -> None:
            self.total = event.total


    async def place(command: PlaceOrder) -> None:
        order = Order(id=command.order_id)
        order.place(command.total)


    async def main(commands: CommandBus, queries: QueryBus) -> Decimal:
        commands.register(PlaceOrder, place)
        await commands.dispatch(PlaceOrder(order_id="o1", total=Decimal("1.00")))
        total: Decimal = await queries.ask(GetTotal(order_id="o1"))
        placed = PlaceOrder.from_dict({"order_id": "o1", "total": "2.00"})
        data: dict[str, object] = placed.to_dict()
        return total + placed.total + Decimal(len(data))
"""

BAD = """
    from decimal import Decimal

    from hexkernel.core.messages import Command, message


    @message("shop.PlaceOrder")
    class PlaceOrder(Command):
        order_id: str
        total: Decimal


    PlaceOrder(order="o1", total=Decimal(1))
    PlaceOrder("o1", Decimal(1))
    placed = PlaceOrder(order_id="o1", total=Decimal(1))
    placed.total = Decimal(2)
"""


def _mypy(tmp_path: Path, source: str) -> tuple[str, int]:
    module = tmp_path / "usercode.py"
    module.write_text(textwrap.dedent(source))
    out, err, status = api.run(
        ["--strict", "--no-incremental", "--cache-dir", str(tmp_path / ".mypy"), str(module)]
    )
    return out + err, status


@pytest.mark.slow
def test_correct_message_code_passes_mypy_strict(tmp_path):
    output, status = _mypy(tmp_path, GOOD)
    assert status == 0, output


@pytest.mark.slow
def test_wrong_message_construction_and_mutation_are_type_errors(tmp_path):
    output, status = _mypy(tmp_path, BAD)
    assert status == 1, output
    assert 'Unexpected keyword argument "order"' in output
    assert "Too many positional arguments" in output
    assert "read-only" in output or "frozen" in output
