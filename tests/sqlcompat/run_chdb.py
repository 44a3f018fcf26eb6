#!/usr/bin/env python3
"""Runs SQL statements in chdb (current ClickHouse, in-process) and reports.

    run_chdb.py <statements.json> <queries.json>

Statements are executed in order and must all succeed; each query must
succeed too and its JSONEachRow rows are printed as one JSON document, so
the caller can check answers. This proves the SQL the project sends to
Debian's ClickHouse 18.16 also runs on the ClickHouse production uses.
"""
import json
import sys
import tempfile

import chdb
import chdb.session


def main():
    statements = json.load(open(sys.argv[1]))
    queries = json.load(open(sys.argv[2]))
    session = chdb.session.Session(tempfile.mkdtemp(prefix="mintmark-chdb-"))
    version = str(session.query("SELECT version()", "CSV")).strip().strip('"')
    for sql in statements:
        session.query(sql)
    answers = []
    for sql in queries:
        text = str(session.query(sql, "JSONEachRow"))
        answers.append([json.loads(line) for line in text.splitlines() if line.strip()])
    print(json.dumps({"version": version, "statements": len(statements), "answers": answers}))


if __name__ == "__main__":
    main()
