"""The web layer: the Starlette app and its routes, by audience."""
