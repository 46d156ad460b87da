#!/usr/bin/env python3
"""Run SQL statements in one in-process chdb session (modern ClickHouse).

stdin:  a JSON array of SQL statements (strings), run in order.
stdout: a JSON array with one object per statement:
        {"sql": ..., "ok": true, "output": "<TSV result>"} or
        {"sql": ..., "ok": false, "error": "<message>"}.
Statements after a failure still run (each is reported on its own).
Exit status: 0 when every statement succeeded, 1 otherwise, 2 on bad input.

Used by sinks/chsink tests to check the modern schema and the queries
dashboards and reports run, without a ClickHouse server:

    echo '["SELECT version()"]' | python3 chdb_exec.py
"""
import json
import sys
import tempfile


def main():
    try:
        stmts = json.load(sys.stdin)
        if not isinstance(stmts, list) or not all(isinstance(s, str) for s in stmts):
            raise ValueError("expected a JSON array of strings")
    except Exception as e:  # noqa: BLE001 - report any input problem
        json.dump([{"sql": "", "ok": False, "error": "bad input: %s" % e}], sys.stdout)
        return 2
    import chdb.session

    out = []
    failed = False
    with tempfile.TemporaryDirectory(prefix="chdb-") as path:
        sess = chdb.session.Session(path)
        try:
            for sql in stmts:
                try:
                    res = sess.query(sql, "TSV")
                    out.append({"sql": sql, "ok": True, "output": str(res)})
                except Exception as e:  # noqa: BLE001 - chdb raises plain Exception
                    failed = True
                    out.append({"sql": sql, "ok": False, "error": str(e)})
        finally:
            sess.close()
    json.dump(out, sys.stdout)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
