"""The web UI (``sous ui``): a small Starlette app over the runs database, the registry,
the cache and the plan, with server-rendered pages and every asset served locally.

``engine.ui.data`` reads; ``engine.ui.graph`` draws plans; ``engine.ui.app`` serves."""
