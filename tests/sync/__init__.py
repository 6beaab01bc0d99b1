"""The sync protocol: sessions, parsing, the Daphne transport, the official convex client."""
