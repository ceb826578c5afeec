"""The tamper-evident audit log: a hash chain of every event, per user.

``record`` and ``canonical`` define the bytes each hash covers, ``chain``
walks a chain and names what is wrong, ``store`` keeps it in SQLite,
``checkpoint`` signs its head, ``sink`` feeds it events, ``verify``,
``export``, ``log``, ``report`` and ``render`` read it back. docs/audit.md
is the contract. Nothing is imported here; import the module you need.
"""
