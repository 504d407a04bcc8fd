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
from collections.abc import Hashable, Sequence
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


def in_ids(column: str, ids: Sequence[int]) -> tuple[str, list[Any]]:
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
