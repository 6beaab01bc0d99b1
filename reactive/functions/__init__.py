"""Functions: the registry of decorated functions (``registry``, and ``permissions``: which of them a client may
reach), their argument validators and pagination, the ctx they get (``context``), who calls them
(``identity``), and one call of one function: validation, permission, transaction, outcome (``execution``).
"""
