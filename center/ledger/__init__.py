"""The electronic ledger (电子底账): the business rules of docs/OPERATOR.md's rules and the storage of their records.

- ``identifiers``: the formats of form, declaration and enterprise numbers, and argument checks.
- ``state`` / ``rules``: a form's three statuses as plain data and the pure transitions between them (one function
  per operation, each refusing with the manual's reason); no database in there.
- ``forms``: loading forms (locked for update) and writing a batch of changes with their ``form_events``, through
  ``driver`` (statements compiled once per dialect and run with the driver's executemany: the hot path).
- ``issuance``: applications, approvals and issuing (统一编号, 审批表, 发放登记表).
- ``declarations``: the declarations' electronic data (报关单).
- ``query``: the combined query (组合查询).

Functions take a Connection inside a transaction that their caller owns, so a whole batch commits or nothing does.
"""
