#!/usr/bin/python3
"""scripts/doc_examples.py: every SQL example of the docs runs as shown.

For each page given (README.md, doc/*.md), in a database of its own made
fresh for the page, the page's ```sql blocks run top to bottom in one psql
session, as a reader would paste them.  A ```sql block followed by a
```text block is compared with it: the text block is what psql prints.
In the text block "…" stands for any run of characters without a space
(a uuid, a timestamp), and the widths of columns do not count (runs of
spaces, and the dashes of a header's underline, compare as one).  A ```sql
block without a text block must run without an error.

Usage: doc_examples.py PAGE...   (PGHOST, PGPORT, PGUSER from the caller;
PSQL names psql).  Prints PASS/FAIL per page; exits 1 on a failure.
doc_examples.py --fill PAGE... writes what psql prints into the page's text
blocks instead (uuids and timestamps as "…"), for a writer to review with
git diff: never in a test.
"""
import os
import re
import subprocess
import sys

FENCE = re.compile(r"^```(\w*)\s*$")
MARK = "<<<doc-example-block {}>>>"


def blocks(path):
    """(lang, text, line) of each fenced block of the page, in order."""
    out, lang, buf, start = [], None, [], 0
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            m = FENCE.match(line)
            if lang is None and m:
                lang, buf, start = m.group(1) or "plain", [], n
            elif lang is not None and line.rstrip() == "```":
                out.append((lang, "".join(buf), start))
                lang = None
            elif lang is not None:
                buf.append(line)
    return out


def examples(path):
    """[(sql, expected text or None, line)] of the page."""
    bs = blocks(path)
    ex = []
    for i, (lang, text, line) in enumerate(bs):
        if lang != "sql":
            continue
        expected = None
        if i + 1 < len(bs) and bs[i + 1][0] == "text":
            expected = bs[i + 1][1]
        ex.append((text, expected, line))
    return ex


def normalize(line):
    line = line.rstrip()
    if re.fullmatch(r"[-+]+", line.strip()):
        return "---"
    return re.sub(r" +", " ", line).strip()


def matches(expected, actual):
    exp = [normalize(l) for l in expected.splitlines() if l.strip()]
    act = [normalize(l) for l in actual.splitlines() if l.strip()]
    if len(exp) != len(act):
        return False
    for e, a in zip(exp, act):
        pattern = "".join(r"\S+" if c == "…" else re.escape(c) for c in e)
        if not re.fullmatch(pattern, a):
            return False
    return True


def psql(db, *args, stdin=None):
    cmd = [os.environ.get("PSQL", "psql"), "-X", "-d", db] + list(args)
    # line-buffered: psql's results and its errors come out in order
    return subprocess.run(["stdbuf", "-oL", "-eL"] + cmd, input=stdin,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
STAMP = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d(:\d\d)?)?")


def masked(text):
    text = UUID.sub("…", text)
    # a time psql prints is two words; one in JSON is one
    return STAMP.sub(lambda m: "…" if "T" in m.group(0) else "… …", text)


def fill(path, got):
    """Write what psql printed into the text block after each sql block."""
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    out, i, n, lang, prev_sql = [], 0, -1, None, False
    while i < len(lines):
        line = lines[i]
        m = FENCE.match(line)
        if lang is None and m:
            lang = m.group(1) or "plain"
            if lang == "sql":
                n += 1
            elif lang == "text" and n >= 0 and prev_sql:
                out.append(line)
                j = i + 1
                while lines[j].rstrip() != "```":
                    j += 1
                out.append(masked(got.get(n, "")).strip("\n") + "\n")
                out.append(lines[j])
                i, lang, prev_sql = j + 1, None, False
                continue
            prev_sql = False
        elif lang is not None and line.rstrip() == "```":
            prev_sql = lang == "sql"
            lang = None
        elif lang is None and line.strip():
            prev_sql = False
        out.append(line)
        i += 1
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(out)


def run_page(path, fill_page=False):
    db = "doc_" + re.sub(r"\W", "_", os.path.basename(path).lower())
    roles_before = set(psql("postgres", "-Atc", "SELECT rolname FROM pg_roles").stdout.split())
    psql("postgres", "-qc", f"DROP DATABASE IF EXISTS {db}")
    r = psql("postgres", "-qc", f"CREATE DATABASE {db}")
    if r.returncode != 0:
        return [f"cannot create database {db}: {r.stdout.strip()}"]
    ex = examples(path)
    script = []
    for n, (sql, _, _) in enumerate(ex):
        script.append(f"\\echo {MARK.format(n)}\n")
        script.append(sql)
    r = psql(db, "-q", "-v", "VERBOSITY=default", stdin="".join(script))
    # psql names the line of stdin an error came from: not the reader's
    output = re.sub(r"^psql:<stdin>:\d+: ", "", r.stdout, flags=re.M)
    parts = re.split(r"^<<<doc-example-block (\d+)>>>$", output, flags=re.M)
    got = {int(parts[i]): parts[i + 1] for i in range(1, len(parts) - 1, 2)}
    if fill_page:
        fill(path, got)
    problems = []
    for n, (sql, expected, line) in enumerate(ex):
        actual = got.get(n, "")
        where = f"{path}:{line}"
        if expected is None:
            if re.search(r"^(ERROR|FATAL|WARNING):", actual, re.M):
                problems.append(f"{where}: the example fails:\n{actual.strip()}")
        elif not matches(expected, actual):
            problems.append(f"{where}: the page shows\n{expected.rstrip()}\n"
                            f"  but psql prints\n{actual.rstrip()}")
    psql("postgres", "-qc", f"DROP DATABASE IF EXISTS {db}")
    # the roles a page makes are the page's: the next page starts without them
    for role in set(psql("postgres", "-Atc", "SELECT rolname FROM pg_roles").stdout.split()) - roles_before:
        psql("postgres", "-qc", f'DROP ROLE "{role}"')
    return problems


def main(pages):
    failed = 0
    fill_pages = pages[:1] == ["--fill"]
    if fill_pages:
        pages = pages[1:]
    for page in pages:
        problems = run_page(page, fill_pages)
        n = len(examples(page))
        if problems:
            failed = 1
            print(f"FAIL doc_examples {page}: {len(problems)} of {n} examples")
            for p in problems:
                print("  " + p.replace("\n", "\n    "))
        else:
            print(f"PASS doc_examples {page} ({n} examples)")
    return failed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
