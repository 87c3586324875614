"""Schemathesis hooks of `.ci/run`'s fuzzing step (SCHEMATHESIS_HOOKS).

One check: no answer is a server error (HTTP 5xx) or carries a GraphQL
error with `extensions.code` INTERNAL (a bug) or UNAVAILABLE (the fuzzed
server's database is never down, so that would be a connection or lock held
too long; it was INTERNAL before issue 14). Everything else the fuzzer provokes
(validation errors, BAD_USER_INPUT, FORBIDDEN, NOT_FOUND, …) is the server
doing its job.
"""

import json
import os
import sqlite3
import time
import uuid

import schemathesis


@schemathesis.check
def no_server_error_or_internal(ctx, response, case):
    """Fail on a 5xx or an INTERNAL or UNAVAILABLE error; anything else passes."""
    if response.status_code >= 500:
        raise AssertionError(f"HTTP {response.status_code}: {response.text[:500]}")
    try:
        body = json.loads(response.text)
    except ValueError:
        raise AssertionError(f"not JSON (HTTP {response.status_code}): {response.text[:500]}")
    errors = body.get("errors") if isinstance(body, dict) else None
    for error in errors or []:
        extensions = error.get("extensions") or {}
        code = extensions.get("code")
        if code in ("INTERNAL", "UNAVAILABLE"):
            raise AssertionError(f"{code}: {error.get('message')} at {error.get('path')}")
    return None


# IDs: random strings almost never name a record, so the fuzzer would only
# ever meet NOT_FOUND. With LINLI_FUZZ_DB (the server's SQLite file), an ID
# argument is most of the time the id of a real record of any table, read
# again every few seconds so that records the fuzzer creates are used too.
_DB = os.environ.get("LINLI_FUZZ_DB")
_cache = {"at": 0.0, "ids": []}


def _known_ids():
    now = time.monotonic()
    if now - _cache["at"] > 3 or not _cache["ids"]:
        ids = []
        try:
            db = sqlite3.connect(f"file:{_DB}?mode=ro", uri=True, timeout=5)
            try:
                tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
                for table in tables:
                    columns = [r[1] for r in db.execute(f'PRAGMA table_info("{table}")')]
                    if "id" not in columns:
                        continue
                    for (value,) in db.execute(f'SELECT id FROM "{table}" ORDER BY id DESC LIMIT 100'):
                        if isinstance(value, bytes) and len(value) == 16:
                            ids.append(str(uuid.UUID(bytes=value)))
            finally:
                db.close()
        except sqlite3.Error:
            pass
        _cache["at"] = now
        _cache["ids"] = ids or _cache["ids"]
    return _cache["ids"]


def _pick(n):
    ids = _known_ids()
    return ids[n % len(ids)] if ids else str(uuid.UUID(int=n))


if _DB:
    from hypothesis import strategies as st
    from schemathesis.graphql import nodes

    schemathesis.graphql.scalar(
        "ID",
        st.one_of(
            st.integers(min_value=0, max_value=1 << 30).map(_pick),
            st.integers(min_value=0, max_value=1 << 30).map(_pick),
            st.integers(min_value=0, max_value=1 << 30).map(_pick),
            st.text(max_size=40),
        ).map(nodes.String),
    )
