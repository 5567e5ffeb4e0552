"""finfeed's HTTP API: point-in-time sentiment aggregates, company search, classification, a chart page.

Build it with ``finfeed.api.app.create_app(...)``; ``finfeed serve`` runs it under uvicorn.
"""
