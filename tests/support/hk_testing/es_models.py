"""Messages and an event-sourced aggregate for the event-store and CQRS tests.

``Account`` is a small bank account: opened, money deposited and withdrawn, and
never below zero. ``Deposited`` is at version 2; version 1 had no ``memo``, so
the ``LEGACY`` registry holds the old class and the default registry the
upcaster that adds it.
"""

from decimal import Decimal

import attrs

from hexkernel.core import Field, Model
from hexkernel.core.errors import DomainError
from hexkernel.core.eventsourcing import Aggregate, applies
from hexkernel.core.messages import Command, Event, MessageRegistry, Query, message, registry


@message("hk_test.AccountOpened")
class AccountOpened(Event):
    account_id: str
    owner: str


@message("hk_test.Deposited", version=2)
class Deposited(Event):
    account_id: str
    amount: Decimal
    memo: str


@message("hk_test.Withdrawn")
class Withdrawn(Event):
    account_id: str
    amount: Decimal


@registry.upcaster("hk_test.Deposited", 1)
def _deposited_v1(data: dict) -> dict:
    return {**data, "memo": "(before memos)"}


LEGACY = MessageRegistry()
"""A registry holding version 1 of ``Deposited``: what older code wrote."""


@message("hk_test.Deposited", version=1, into=LEGACY)
class DepositedV1(Event):
    account_id: str
    amount: Decimal


@message("hk_test.Open")
class Open(Command):
    account_id: str
    owner: str


@message("hk_test.Deposit")
class Deposit(Command):
    account_id: str
    amount: Decimal


@message("hk_test.Withdraw")
class Withdraw(Command):
    account_id: str
    amount: Decimal


@message("hk_test.GetBalance")
class GetBalance(Query[Decimal]):
    account_id: str


class Overdrawn(DomainError):
    """A withdrawal larger than the balance."""


@attrs.define(kw_only=True)
class Account(Aggregate):
    owner: str = ""
    balance: Decimal = Decimal("0.00")
    movements: int = 0

    @classmethod
    def open(cls, account_id: str, owner: str) -> "Account":
        account = cls(id=account_id)
        account.record(AccountOpened(account_id=account_id, owner=owner))
        return account

    def deposit(self, amount: Decimal, memo: str = "") -> None:
        self.record(Deposited(account_id=self.id, amount=amount, memo=memo))

    def withdraw(self, amount: Decimal) -> None:
        if amount > self.balance:
            raise Overdrawn(f"{self.id} holds less than {amount}")
        self.record(Withdrawn(account_id=self.id, amount=amount))

    @applies(AccountOpened)
    def _opened(self, event: AccountOpened) -> None:
        self.owner = event.owner

    @applies(Deposited)
    def _deposited(self, event: Deposited) -> None:
        self.balance += event.amount
        self.movements += 1

    @applies(Withdrawn)
    def _withdrawn(self, event: Withdrawn) -> None:
        self.balance -= event.amount
        self.movements += 1


class Note(Model, prefix="not", collection="es_notes"):
    """A plain document, written in the same unit of work as events."""

    text: str


class BalanceRow(Model, prefix="bal", collection="es_balances"):
    """The read model of the balances projection: one row per account."""

    owner: str = ""
    balance: Decimal = Field(default=Decimal("0.00"))
    movements: int = 0
    last_position: int = 0
