"""twinport's pure core.

Everything that decides *what* the service does lives here: configuration, validation,
domain logic, SQL, error bodies, templates and the route table. Nothing here performs I/O
or imports a web framework, a server or a database driver: the import contracts in
pyproject.toml (`lint-imports`) and ruff's TID251 rule check it. Workflows that need I/O
are generators that *yield* effects (`shared_logic.effects`) for a driver in each shell to
perform, the way psycopg's generators and httpx's auth flows work.

- `protocol/`: HTTP pieces with no feature in them (requests, problems, bodies,
  conditional requests, sessions, SSE framing);
- `features/`: what the service does, a module (or package) per feature;
- `routing` (what a route is, and `dispatch`), `routes` (the table), `openapi`,
  `validation` (field specs for query parameters, bodies, job params and forms),
  `effects`, `sql`, `config`, `context`, `templates`.
"""
