"""SQL text checks for overridden queries, done when the configuration is read.

Reads: the SQL of a query override.
Publishes: ``statements()`` (how many statements a text holds, read the way PostgreSQL's lexer reads quotes,
dollar quotes, identifiers and comments) and ``check_one_statement()``, which refuses more than one. The
runtime enforces the same rule by always using the extended protocol; this check says so at ``check`` time.
"""

from __future__ import annotations

import re

_DOLLAR_TAG = re.compile(r"\$([A-Za-z_\x80-\U0010ffff][A-Za-z0-9_\x80-\U0010ffff]*)?\$")


def statements(sql: str) -> int:
    """Number of non-empty statements separated by top-level semicolons."""
    count, content, i, n = 0, False, 0, len(sql)
    while i < n:
        c = sql[i]
        if c == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
            continue
        if c == "/" and sql.startswith("/*", i):
            depth, i = 1, i + 2  # PostgreSQL block comments nest
            while i < n and depth:
                if sql.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif sql.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
            continue
        if c == ";":
            count += content
            content = False
            i += 1
            continue
        if c.isspace():
            i += 1
            continue
        content = True
        if c in "'\"":
            backslash = c == "'" and i > 0 and sql[i - 1] in "eE" and (i < 2 or not sql[i - 2].isalnum())
            i += 1
            while i < n:
                if backslash and sql[i] == "\\":
                    i += 2
                elif sql[i] == c:
                    if sql.startswith(c * 2, i):  # doubled quote inside the literal
                        i += 2
                        continue
                    i += 1
                    break
                else:
                    i += 1
            continue
        if c == "$":
            m = _DOLLAR_TAG.match(sql, i)
            if m and not (i > 0 and (sql[i - 1].isalnum() or sql[i - 1] == "_")):
                end = sql.find(m.group(0), m.end())
                i = n if end < 0 else end + len(m.group(0))
                continue
        i += 1
    return count + content


def check_one_statement(sql: str, where: str) -> None:
    found = statements(sql)
    if found == 0:
        raise ValueError(f"{where}: the query is empty")
    if found > 1:
        raise ValueError(f"{where}: {found} SQL statements; a query override must be exactly one statement")
