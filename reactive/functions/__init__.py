"""Functions: the registry of decorated functions and which of them a client may reach (``registry``), their
argument validators and pagination, the preparation of a client's call (``calls``), the ctx they get
(``context``), who calls them (``identity``), and one call of one function: permission, transaction, outcome
(``execution``).
"""
