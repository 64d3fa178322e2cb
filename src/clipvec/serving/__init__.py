"""The HTTP service: BentoML glue, request guard, routes, the search page."""
