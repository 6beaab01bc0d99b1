"""Security: reactive's tokens (``tokens``), the authentication of HTTP calls and ``Authenticate``
(``auth``), the WebSocket Origin check (``origins``), and the limits on what one client may send and hold
(``limits``).
"""
