"""The WebSocket sync protocol (shared/PROTOCOL.md): parsing, sessions, the consumer."""
