"""Writing a herd's rows: thousands of inserts and updates per second.

Django's ``bulk_create(ignore_conflicts=True)`` does not return the new ids, and ``bulk_update`` builds a
``CASE`` expression per field and row in Python, which dominated a herd's planning time. These functions do
the same work in one statement per batch:

- PostgreSQL: the rows travel as one JSON document read by ``json_to_recordset`` (see :func:`json_records`);
- MySQL/MariaDB: the same, read by ``JSON_TABLE`` (:func:`mysql_json_records`): ``INSERT IGNORE ... SELECT``
  (MySQL has no ``ON CONFLICT``) and ``UPDATE ... JOIN``;
- SQLite: a multi-row ``INSERT`` per batch, and ``executemany`` for updates.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import DateTimeField, Field, Model

#: Field names to column values written the same for every inserted row.
Constants = Sequence[tuple[str, Any]]


def insert_new_rows(
    model: type[Model],
    objects: Sequence[Any],
    *,
    fields: Sequence[str],
    constants: Constants,
    stamp_fields: Sequence[str],
    stamp: Any,
    key: str,
) -> dict[Hashable, int]:
    """Insert one row per object, skipping those that would break a unique constraint; return the new rows'
    ids by their ``key`` column value.

    ``fields`` are read from each object by ``Field.attname``; ``constants`` are the same for every row, and so
    is ``stamp`` (an aware datetime) for every field of ``stamp_fields``. ``key`` must be unique per object: on
    an SQLite without ``RETURNING`` (before 3.35) the new rows are found by it and by ``stamp``.
    """
    if not objects:
        return {}
    by_name = {field.name: field for field in model._meta.concrete_fields}
    written = [by_name[name] for name in fields]
    constant_columns = [str(by_name[name].column) for name, _ in constants] + [
        str(by_name[name].column) for name in stamp_fields
    ]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(column) for column in [*(str(f.column) for f in written), *constant_columns])
    table = quote(model._meta.db_table)
    key_column, pk_column = quote(str(by_name[key].column)), quote(str(model._meta.pk.column))
    if connection.vendor == "postgresql":
        constant_values = [value for _, value in constants] + [stamp] * len(stamp_fields)
        insert = f"INSERT INTO {table} ({columns})"
        returning = f"ON CONFLICT DO NOTHING RETURNING {key_column}, {pk_column}"
        return _insert_postgresql(insert, returning, objects, written, constant_values)
    prepared_stamp = connection.ops.adapt_datetimefield_value(stamp)
    constant_values = [value for _, value in constants] + [prepared_stamp] * len(stamp_fields)
    returning = f"RETURNING {key_column}, {pk_column}"
    if connection.vendor == "mysql":
        # No ON CONFLICT: IGNORE skips the rows the unique keys refuse, and MariaDB returns only the rows written.
        # (ON DUPLICATE KEY UPDATE would return the existing rows too, which would then be sent twice.) IGNORE
        # also turns other errors into warnings, so every column is always given.
        insert = f"INSERT IGNORE INTO {table} ({columns})"
        new_ids = _insert_mysql(insert, returning, objects, written, constant_values)
    else:
        statement = _ValuesInsert(
            f"INSERT INTO {table} ({columns})", suffix="ON CONFLICT DO NOTHING", returning=returning
        )
        new_ids = statement.run(objects, written, constant_values)
    if new_ids is None:  # no RETURNING: find the rows this statement wrote by their key and stamp
        keys = [getattr(obj, by_name[key].attname) for obj in objects]
        inserted = model._default_manager.filter(**{f"{key}__in": keys, stamp_fields[0]: stamp})
        new_ids = dict(inserted.values_list(key, "pk"))
    return new_ids


def _insert_postgresql(
    insert: str, returning: str, objects: Sequence[Any], fields: Sequence[Field[Any, Any]], constants: list[Any]
) -> dict[Hashable, int]:
    quote = connection.ops.quote_name
    record = ", ".join(f"{quote(str(f.column))} {f.db_type(connection)}" for f in fields)
    selected = ", ".join(["v.*"] + ["%s"] * len(constants))
    with connection.cursor() as cursor:
        cursor.execute(
            f"{insert} SELECT {selected} FROM json_to_recordset(%s::json) AS v({record}) {returning}",
            [*constants, json_records(objects, fields)],
        )
        return dict(cursor.fetchall())


def _insert_mysql(
    insert: str, returning: str, objects: Sequence[Any], fields: Sequence[Field[Any, Any]], constants: list[Any]
) -> dict[Hashable, int] | None:
    """``INSERT ... SELECT`` from ``JSON_TABLE`` (MariaDB 10.6+, MySQL 8): the rows travel as one JSON document,
    as on PostgreSQL. Binding them as scalars had mysqlclient escape, and Django prepare, every value in Python:
    most of a herd's extra cost on MariaDB (docs/benchmarks.md). None when the server cannot return the new ids
    (MySQL has no ``RETURNING``)."""
    selected = ", ".join([*(f"v.{connection.ops.quote_name(str(f.column))}" for f in fields), *["%s"] * len(constants)])
    can_return = connection.features.can_return_rows_from_bulk_insert
    with connection.cursor() as cursor:
        cursor.execute(
            f"{insert} SELECT {selected} FROM {_json_table(fields)} {returning if can_return else ''}",
            [*constants, mysql_json_records(objects, fields)],
        )
        return dict(cursor.fetchall()) if can_return else None


def _json_table(fields: Sequence[Field[Any, Any]]) -> str:
    """``JSON_TABLE(%s, ...) AS v`` with one typed column per field, read from records by their column names."""
    quote = connection.ops.quote_name
    # A key's column type without its AUTO_INCREMENT: the type a foreign key to it would have.
    types = {f.column: f.rel_db_type(connection) if f.primary_key else f.db_type(connection) for f in fields}
    columns = ", ".join(f"{quote(str(column))} {kind} PATH '$.{column}'" for column, kind in types.items())
    return f"JSON_TABLE(%s, '$[*]' COLUMNS ({columns})) AS v"


def mysql_json_records(objects: Sequence[Any], fields: Sequence[Field[Any, Any]]) -> str:
    """Rows as one JSON document for MySQL/MariaDB's ``JSON_TABLE``: the model attributes themselves (ints,
    strings, floats, None), booleans as 0/1 and datetimes as the naive text of the connection's zone (UTC), as
    Django's MySQL backend writes them, microseconds included."""
    zone = connection.timezone
    plain = [(str(field.column), field.attname) for field in fields if not isinstance(field, DateTimeField)]
    dated = [(str(field.column), field.attname) for field in fields if isinstance(field, DateTimeField)]
    records = []
    for obj in objects:
        record = {column: getattr(obj, attname) for column, attname in plain}
        for column, value in record.items():
            if isinstance(value, bool):
                record[column] = int(value)
        for column, attname in dated:
            value = getattr(obj, attname)
            if value is not None and value.tzinfo is not None:
                value = value.astimezone(zone).replace(tzinfo=None)
            record[column] = None if value is None else value.isoformat(sep=" ")
        records.append(record)
    return json.dumps(records)


class _ValuesInsert:
    """A multi-row ``INSERT ... VALUES`` per batch (SQLite, MySQL/MariaDB), returning the new rows where the
    database can (SQLite >= 3.35, MariaDB >= 10.5; not MySQL)."""

    def __init__(self, insert: str, *, suffix: str, returning: str) -> None:
        self.insert, self.suffix, self.returning = insert, suffix, returning

    def run(
        self, objects: Sequence[Any], fields: Sequence[Field[Any, Any]], constants: list[Any]
    ) -> dict[Hashable, int] | None:
        """The new rows' ids by key, or None when this database cannot say."""
        rows = [
            [f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields] + constants for obj in objects
        ]
        width = len(fields) + len(constants)
        batch = max(1, connection.ops.bulk_batch_size(["column"] * width, objects))
        row_sql = "(" + ", ".join(["%s"] * width) + ")"
        can_return = connection.features.can_return_rows_from_bulk_insert
        tail = f"{self.suffix} {self.returning}" if can_return else self.suffix
        new_ids: dict[Hashable, int] = {}
        with connection.cursor() as cursor:
            for start in range(0, len(rows), batch):
                chunk = rows[start : start + batch]
                cursor.execute(
                    f"{self.insert} VALUES {', '.join([row_sql] * len(chunk))} {tail}",
                    [value for row in chunk for value in row],
                )
                if can_return:
                    new_ids.update(cursor.fetchall())
        return new_ids if can_return else None


def update_rows(model: type[Model], objects: Sequence[Model], *, fields: Sequence[str]) -> None:
    """Write ``fields`` of each of ``objects`` (saved model instances) back to its row, in one statement per
    batch."""
    if not objects:
        return
    meta = model._meta
    written = [field for field in meta.concrete_fields if field.name in fields]
    quote = connection.ops.quote_name
    table, pk = quote(meta.db_table), quote(str(meta.pk.column))
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            record = ", ".join(f"{quote(str(f.column))} {f.db_type(connection)}" for f in [meta.pk, *written])
            assignments = ", ".join(f"{quote(str(f.column))} = v.{quote(str(f.column))}" for f in written)
            cursor.execute(
                f"UPDATE {table} SET {assignments} FROM json_to_recordset(%s::json) AS v({record}) "
                f"WHERE {table}.{pk} = v.{pk}",
                [json_records(objects, [meta.pk, *written])],
            )
            return
        if connection.vendor == "mysql":
            _update_mysql(table, pk, meta.pk, written, objects)
            return
        rows = [
            [field.get_db_prep_save(getattr(obj, field.attname), connection) for field in written] + [obj.pk]
            for obj in objects
        ]
        assignments = ", ".join(f"{quote(str(field.column))} = %s" for field in written)
        cursor.executemany(f"UPDATE {table} SET {assignments} WHERE {pk} = %s", rows)


def _update_mysql(
    table: str, pk: str, pk_field: Field[Any, Any], fields: Sequence[Field[Any, Any]], objects: Sequence[Model]
) -> None:
    """One ``UPDATE ... JOIN JSON_TABLE`` per batch (MariaDB 10.6+, MySQL 8): the rows travel as one JSON document,
    as on PostgreSQL, instead of one UPDATE per row."""
    quote = connection.ops.quote_name
    assignments = ", ".join(f"t.{quote(str(f.column))} = v.{quote(str(f.column))}" for f in fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS t JOIN {_json_table([pk_field, *fields])} ON t.{pk} = v.{pk} SET {assignments}",
            [mysql_json_records(objects, [pk_field, *fields])],
        )


def update_by_key(
    model: type[Model],
    rows: Sequence[Mapping[str, Any]],
    *,
    key: str,
    constants: Mapping[str, Any],
    where: Mapping[str, Sequence[Any]],
    keep_if_null: Sequence[str] = (),
) -> int:
    """Write each of ``rows`` (field name -> value, the same fields in each) to the row whose ``key`` column has
    its ``key`` value, and ``constants`` to all of them, in one statement; only rows whose column is one of the
    values of each ``where`` entry change. A field of ``keep_if_null`` keeps the row's value where the given one
    is None. Returns the rows changed. ``key`` values must be unique among ``rows``.

    The worker's batched run reports (``executions.mark_many_*``, #12): unlike :func:`update_rows`, the rows are
    found by another column than the key, and the condition is checked by the statement itself, so that a late
    report never moves a run backwards.
    """
    if not rows:
        return 0
    by_name = {field.name: field for field in model._meta.concrete_fields}
    update = _KeyedUpdate(
        table=connection.ops.quote_name(model._meta.db_table),
        key=by_name[key],
        given=[by_name[name] for name in rows[0] if name != key],
        kept={name for name in keep_if_null},
    )
    constant_fields = [by_name[name] for name in constants]
    constant_values = [f.get_db_prep_save(constants[f.name], connection) for f in constant_fields]
    condition, condition_params = update.condition({by_name[name]: values for name, values in where.items()})
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.executemany(
                update.sqlite(constant_fields, condition),
                [[*constant_values, *update.row_values(row), *condition_params] for row in rows],
            )
        elif connection.vendor == "mysql":
            records = mysql_json_records([_Record(row) for row in rows], [update.key, *update.given])
            cursor.execute(update.mysql(constant_fields, condition), [records, *constant_values, *condition_params])
        else:
            records = json_records([_Record(row) for row in rows], [update.key, *update.given])
            cursor.execute(
                update.postgresql(constant_fields, condition), [*constant_values, records, *condition_params]
            )
        return int(cursor.rowcount)


@dataclass(frozen=True)
class _KeyedUpdate:
    """The SQL of :func:`update_by_key` on each vendor: rows found by ``key``, ``given`` fields from each row."""

    table: str
    key: Field[Any, Any]
    given: list[Field[Any, Any]]
    kept: set[str]

    def condition(self, conditions: Mapping[Field[Any, Any], Sequence[Any]]) -> tuple[str, list[Any]]:
        """``table.column IN values AND ...`` as SQL and parameters."""
        parts, params = [], []
        for field, values in conditions.items():
            part, part_params = in_ids(self._column(field), values)
            parts.append(part)
            params.extend(part_params)
        return " AND ".join(parts), params

    def row_values(self, row: Mapping[str, Any]) -> list[Any]:
        """One row's parameters for :meth:`sqlite`: its given fields, then its key."""
        return [*(f.get_db_prep_save(row[f.name], connection) for f in self.given), row[self.key.name]]

    def sqlite(self, constants: Sequence[Field[Any, Any]], condition: str) -> str:
        """One ``UPDATE`` per row (``executemany``): SQLite runs in the process, no round trip to save."""
        quote = connection.ops.quote_name
        return (
            f"UPDATE {self.table} SET {self._assignments(constants, lambda f: '%s', prefix='')} "
            f"WHERE {quote(str(self.key.column))} = %s AND {condition}"
        )

    def mysql(self, constants: Sequence[Field[Any, Any]], condition: str) -> str:
        """``UPDATE ... JOIN JSON_TABLE``, as :func:`update_rows` on MySQL/MariaDB."""
        key, assignments = self._key_and_joined_assignments(constants, prefix=f"{self.table}.")
        return (
            f"UPDATE {self.table} JOIN {_json_table([self.key, *self.given])} ON {self.table}.{key} = v.{key} "
            f"SET {assignments} WHERE {condition}"
        )

    def postgresql(self, constants: Sequence[Field[Any, Any]], condition: str) -> str:
        """``UPDATE ... FROM json_to_recordset``, as :func:`update_rows` on PostgreSQL."""
        quote = connection.ops.quote_name
        key, assignments = self._key_and_joined_assignments(constants, prefix="")
        record = ", ".join(f"{quote(str(f.column))} {f.db_type(connection)}" for f in [self.key, *self.given])
        return (
            f"UPDATE {self.table} SET {assignments} FROM json_to_recordset(%s::json) AS v({record}) "
            f"WHERE {self.table}.{key} = v.{key} AND {condition}"
        )

    def _key_and_joined_assignments(self, constants: Sequence[Field[Any, Any]], *, prefix: str) -> tuple[str, str]:
        """The quoted key column, and the assignments reading the given values from the joined records ``v``."""
        quote = connection.ops.quote_name
        assignments = self._assignments(constants, lambda f: f"v.{quote(str(f.column))}", prefix=prefix)
        return quote(str(self.key.column)), assignments

    def _assignments(
        self, constants: Sequence[Field[Any, Any]], value: Callable[[Field[Any, Any]], str], *, prefix: str
    ) -> str:
        """``column = %s`` for each constant, then ``column = <value>`` for each given field (kept when null)."""
        quote = connection.ops.quote_name
        parts = [f"{prefix}{quote(str(f.column))} = %s" for f in constants]
        for field in self.given:
            given = value(field)
            if field.name in self.kept:
                given = f"COALESCE({given}, {self._column(field)})"
            parts.append(f"{prefix}{quote(str(field.column))} = {given}")
        return ", ".join(parts)

    def _column(self, field: Field[Any, Any]) -> str:
        return f"{self.table}.{connection.ops.quote_name(str(field.column))}"


class _Record:
    """A row given as a mapping, read by attribute as :func:`json_records` reads model instances."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.__dict__.update(values)


def in_ids(column: str, ids: Sequence[Any]) -> tuple[str, list[Any]]:
    """``column IN ids`` as SQL and parameters: one array parameter on PostgreSQL (see ``db.lookups``)."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", [list(ids)]
    return f"{column} IN ({', '.join(['%s'] * len(ids))})", list(ids)


def json_records(objects: Sequence[Any], fields: Sequence[Field[Any, Any]]) -> str:
    """Rows as one JSON document for PostgreSQL's ``json_to_recordset``.

    A few hundred rows bound as scalars or arrays are adapted value by value in Python by psycopg's client-side
    binding (what Django uses); one JSON text is encoded in C and parsed by the server, several times faster.
    The values are the model attributes themselves: ints, strings, bools, floats, None and aware datetimes
    (ISO 8601 with offset, which PostgreSQL reads back exactly).
    """
    plain = [(str(field.column), field.attname) for field in fields if not isinstance(field, DateTimeField)]
    dated = [(str(field.column), field.attname) for field in fields if isinstance(field, DateTimeField)]
    records = []
    for obj in objects:
        record = {column: getattr(obj, attname) for column, attname in plain}
        # Converted here rather than by a json `default` hook: the hook is a Python call per value, from C.
        for column, attname in dated:
            value = getattr(obj, attname)
            record[column] = None if value is None else value.isoformat()
        records.append(record)
    return json.dumps(records)
