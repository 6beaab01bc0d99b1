"""Capture: read tracking, write capture, row images, the ORM hooks, and what Django's own behaviour must stay."""
