"""``ids_in``: ``pk__in`` for the long lists of ids a herd works on, bound as one array on PostgreSQL.

Django writes ``id__in=[...]`` as ``IN (%s, %s, ...)``, one placeholder per id, and psycopg's client-side binding
(what Django uses) converts and adapts them one by one in Python: for a batch of a few thousand runs that cost more
than the query itself (about 20 ms a query in the profile of a release, issue 12). ``ids_in`` sends
``= ANY(%s)`` with the ids as one array parameter on PostgreSQL, and the usual ``IN`` list elsewhere.
Registered on the primary key of :class:`~beat_store.models.Execution` only.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Lookup


class IdsIn(Lookup):
    lookup_name = "ids_in"
    prepare_rhs = False

    def get_prep_lookup(self) -> list[int]:
        return [int(value) for value in self.rhs]

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, Any]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        ids = list(self.rhs)
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s)", (*lhs_params, ids)
        if not ids:
            return "1 = 0", tuple(lhs_params)
        return f"{lhs} IN ({', '.join(['%s'] * len(ids))})", (*lhs_params, *ids)
