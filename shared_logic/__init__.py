"""twinport's framework-free core.

Everything that decides *what* the service does lives here: configuration, validation,
domain logic, SQL, error bodies, templates and the route table. Nothing here performs I/O
or imports a web framework (ruff's TID251 rule enforces the latter); workflows that need
I/O are generators that *yield* effects (`shared_logic.effects`) for a driver in each shell
to perform, the way psycopg's generators and httpx's auth flows work.
"""
