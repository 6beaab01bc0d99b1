"""Security: identity and tokens, permissions, every limit, hostile sockets."""
