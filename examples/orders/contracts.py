"""What the two services say to each other: the messages on the broker, and their topics.

This module is the published contract of the customers service: the commands
it accepts on :data:`COMMANDS` and the events it publishes on :data:`EVENTS`.
Both services import it (each rebuilds messages by their type names); they
share nothing else, no database and no in-process call.
"""

from decimal import Decimal

from hexkernel.core.messages import Command, Event, message

COMMANDS = "customers.commands"
"""The topic the customers service consumes."""
EVENTS = "customers.events"
"""The topic the customers service publishes its events (and replies) to."""

INSUFFICIENT_CREDIT = "insufficient_credit"
UNKNOWN_CUSTOMER = "unknown_customer"


@message("customers.ReserveCredit")
class ReserveCredit(Command):
    """Reserve ``amount`` of the customer's credit for an order."""

    customer_id: str
    order_id: str
    amount: Decimal


@message("customers.ReleaseCredit")
class ReleaseCredit(Command):
    """Give back the credit reserved for an order (nothing happens if none is)."""

    customer_id: str
    order_id: str


@message("customers.CustomerCreated")
class CustomerCreated(Event):
    """A customer was registered with a credit limit."""

    customer_id: str
    name: str
    credit_limit: Decimal


@message("customers.CreditReserved")
class CreditReserved(Event):
    """Credit was reserved for an order."""

    customer_id: str
    order_id: str
    amount: Decimal


@message("customers.CreditReservationFailed")
class CreditReservationFailed(Event):
    """Credit could not be reserved: ``reason`` says why.

    ``insufficient_credit`` or ``unknown_customer``.
    """

    customer_id: str
    order_id: str
    amount: Decimal
    reason: str


@message("customers.CreditReleased")
class CreditReleased(Event):
    """The credit reserved for an order was given back (``amount`` 0 when none was)."""

    customer_id: str
    order_id: str
    amount: Decimal
