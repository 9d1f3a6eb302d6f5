"""The Customer: an event-sourced aggregate whose credit is reserved for orders.

Its state is what its events made of it: the credit limit from
``CustomerCreated`` and one reservation per order from ``CreditReserved``,
dropped again by ``CreditReleased``. Deciding is idempotent per order: a
second reservation for an order that holds one records nothing, and so does
a release for an order that holds none.
"""

from decimal import Decimal

import attrs

from examples.orders.contracts import (
    INSUFFICIENT_CREDIT,
    CreditReleased,
    CreditReservationFailed,
    CreditReserved,
    CustomerCreated,
)
from hexkernel.core.eventsourcing import Aggregate, applies
from hexkernel.core.ids import new_id


@attrs.define(kw_only=True)
class Customer(Aggregate):
    """A customer and the credit reserved for its orders."""

    name: str = ""
    credit_limit: Decimal = Decimal("0.00")
    reserved: dict[str, Decimal] = attrs.Factory(dict)

    @classmethod
    def create(cls, name: str, credit_limit: Decimal) -> "Customer":
        """A new customer (its first event is recorded, not yet stored)."""
        customer = cls(id=new_id("cus"))
        customer.record(
            CustomerCreated(customer_id=customer.id, name=name, credit_limit=credit_limit)
        )
        return customer

    @property
    def available_credit(self) -> Decimal:
        """The limit minus what is reserved."""
        return self.credit_limit - sum(self.reserved.values(), Decimal("0.00"))

    def reserve(self, order_id: str, amount: Decimal) -> bool:
        """Reserve ``amount`` for ``order_id`` if the available credit covers it.

        Returns:
            Whether something was recorded (``False``: the order holds a
            reservation already).
        """
        if order_id in self.reserved:
            return False
        if amount > self.available_credit:
            self.record(
                CreditReservationFailed(
                    customer_id=self.id,
                    order_id=order_id,
                    amount=amount,
                    reason=INSUFFICIENT_CREDIT,
                )
            )
        else:
            self.record(CreditReserved(customer_id=self.id, order_id=order_id, amount=amount))
        return True

    def release(self, order_id: str) -> bool:
        """Give back the credit reserved for ``order_id``; ``False`` when it holds none."""
        amount = self.reserved.get(order_id)
        if amount is None:
            return False
        self.record(CreditReleased(customer_id=self.id, order_id=order_id, amount=amount))
        return True

    @applies(CustomerCreated)
    def _created(self, event: CustomerCreated) -> None:
        self.name = event.name
        self.credit_limit = event.credit_limit

    @applies(CreditReserved)
    def _reserved(self, event: CreditReserved) -> None:
        self.reserved[event.order_id] = event.amount

    @applies(CreditReservationFailed)
    def _refused(self, event: CreditReservationFailed) -> None:
        """The refusal is a fact worth keeping; the state does not change."""

    @applies(CreditReleased)
    def _released(self, event: CreditReleased) -> None:
        self.reserved.pop(event.order_id, None)
