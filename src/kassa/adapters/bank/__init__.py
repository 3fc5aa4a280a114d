"""Bank files: statements in (MT940, camt.053), SEPA direct debits and status reports."""

from kassa.adapters.bank.statements import BankEntry, BankStatement, StatementError, parse

__all__ = ["BankEntry", "BankStatement", "StatementError", "parse"]
