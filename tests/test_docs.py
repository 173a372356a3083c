"""The documents: links resolve, the README's results table is backed by the result files,
the README stays short, and no document retells the work's history.

- Links: every markdown link and image in README.md and docs/*.md whose target is not a
  URL must name a file or folder of the repository, and a `#anchor` must be a heading of
  the target markdown file (GitHub's anchor rule).
- Results at a glance: the README's table between `<!-- results-at-a-glance:begin -->`
  and `<!-- results-at-a-glance:end -->`. Every number of its measured columns ("here",
  "budget", "classifier", "seeds") must round from a number in a docs/results/*.json
  file: a value, a key (seeds, steps), or the mean or standard deviation (population or
  sample) over the seeds of a run (a dict keyed "0", "1", ...). A number written with d
  decimals matches a value that rounds to it at d decimals. The "paper" column holds the
  published numbers (PUBLISHED below, from the papers). The first column names the row
  and the verdict column gives reasons, so their numbers are not measurements.
- README.md has at most 250 lines.
- No markdown file of the project cites issue numbers ("#34", "issue 3") or says
  "session".
"""

import glob
import json
import math
import os
import re
import statistics

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
MAX_README_LINES = 250
TABLE_BEGIN, TABLE_END = "<!-- results-at-a-glance:begin -->", "<!-- results-at-a-glance:end -->"

# The published numbers the README may quote: MemoryGAN's Tables 1 and 2 (IS, mean and
# std) and its classifiers' test accuracy; MIC-GANs' Tables 1 and 2 (purity, FID: MIC-GANs,
# InfoGAN, ClusterGAN, DMGAN). Source: the papers (docs/RESULTS.md quotes them).
PUBLISHED = {
    8.04, 0.13, 8.60, 0.02, 6.39, 0.29, 6.67, 0.17, 8.17, 0.04, 6.05, 0.28, 0.02, 8.11, 0.03,
    6.02, 0.27, 5.35, 8.00, 0.01, 5.82, 0.19, 7.86, 7.90, 6.54, 0.9407, 0.9897, 8.9,
    0.9489, 0.6362, 12.79, 17.97, 0.8589, 11.9, 0.8784, 9.27, 0.7612, 10.82,
}

NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?")
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
ISSUE = re.compile(r"(?<![\w/&])#\d+\b|\bissues?\s+#?\d+", re.I)
SESSION = re.compile(r"\bsessions?\b", re.I)


def markdown_files():
    """README.md and docs/*.md, the project's documents."""
    return [README] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))


def project_markdown():
    """Every markdown file of the project outside virtual environments and caches."""
    found = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in ("node_modules", "build", "dist")
                   and not d.endswith(".egg-info") and d not in ("runs", "venv")]
        found += [os.path.join(folder, f) for f in files if f.endswith(".md")]
    return sorted(found)


def prose(text):
    """The text without fenced code blocks and inline code (links there are not links)."""
    text = FENCE.sub("", text)
    return re.sub(r"`[^`\n]*`", "", text)


def slug(heading):
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"`([^`]*)`", r"\1", heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link's text only
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path):
    """The anchors of a markdown file's headings, duplicates numbered as GitHub does."""
    with open(path, encoding="utf-8") as f:
        text = FENCE.sub("", f.read())
    seen, result = {}, set()
    for line in text.splitlines():
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return result


def broken_links(path):
    """(link, reason) for every link of markdown file `path` that does not resolve."""
    with open(path, encoding="utf-8") as f:
        text = prose(f.read())
    problems = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        resolved = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
        if not os.path.exists(resolved):
            problems.append((target, "no such file"))
            continue
        if not os.path.realpath(resolved).startswith(os.path.realpath(ROOT)):
            problems.append((target, "outside the repository"))
            continue
        if anchor:
            if not resolved.endswith(".md"):
                problems.append((target, "an anchor into a file that is not markdown"))
            elif anchor not in anchors(resolved):
                problems.append((target, "no such heading"))
    return problems


def parse_number(text):
    return float(text.replace(",", ""))


def decimals(text):
    return len(text.split(".", 1)[1]) if "." in text else 0


def _leaves(x, path=()):
    """{path: number} of every numeric leaf of a JSON value."""
    if isinstance(x, bool):
        return {}
    if isinstance(x, (int, float)):
        return {path: float(x)}
    if isinstance(x, dict):
        out = {}
        for k, v in x.items():
            out.update(_leaves(v, path + (k,)))
        return out
    if isinstance(x, list):
        out = {}
        for i, v in enumerate(x):
            out.update(_leaves(v, path + (i,)))
        return out
    return {}


def json_numbers(x, out):
    """Adds to `out` every number of a JSON value: values, numeric keys, and the mean and
    standard deviations over seeds wherever a dict is keyed by seeds ("0", "1", ...)."""
    if isinstance(x, dict):
        for k in x:
            if re.fullmatch(r"-?\d+(\.\d+)?", str(k)):
                out.add(float(k))
        if len(x) >= 2 and all(re.fullmatch(r"\d", str(k)) for k in x):
            per_seed = [_leaves(v) for v in x.values()]
            for path in set.intersection(*(set(p) for p in per_seed)):
                values = [p[path] for p in per_seed]
                out.add(statistics.fmean(values))
                out.add(statistics.pstdev(values))
                out.add(statistics.stdev(values))
        for v in x.values():
            json_numbers(v, out)
    elif isinstance(x, list):
        for v in x:
            json_numbers(v, out)
    elif isinstance(x, (int, float)) and not isinstance(x, bool):
        out.add(float(x))
    return out


def result_numbers():
    out = set()
    for path in glob.glob(os.path.join(ROOT, "docs", "results", "*.json")):
        with open(path) as f:
            json_numbers(json.load(f), out)
    return sorted(v for v in out if math.isfinite(v))


def rounds_from(text, values):
    """Whether the number written as `text` rounds from one of the sorted `values`."""
    import bisect
    x, tolerance = parse_number(text), 0.5 * 10 ** -decimals(text) * (1 + 1e-9) + 1e-12
    i = bisect.bisect_left(values, x - tolerance)
    return i < len(values) and values[i] <= x + tolerance


def glance_table(text):
    """(header, rows) of the README's results-at-a-glance table."""
    assert TABLE_BEGIN in text and TABLE_END in text, "README has no marked results-at-a-glance table"
    block = text.split(TABLE_BEGIN, 1)[1].split(TABLE_END, 1)[0]
    lines = [line.strip() for line in block.strip().splitlines() if line.strip().startswith("|")]
    split = lambda line: [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
    header, rows = split(lines[0]), [split(line) for line in lines[2:]]
    return header, rows


def unbacked_numbers(text, values):
    """(row, column, number) for every number of the table not backed as the module says."""
    header, rows = glance_table(text)
    problems = []
    for row in rows:
        assert len(row) == len(header), f"row has {len(row)} cells, header {len(header)}: {row}"
        for column, cell in zip(header[1:], row[1:]):
            name = column.lower()
            if name.startswith("verdict"):
                continue
            for number in NUMBER.findall(cell):
                if name.startswith("paper"):
                    ok = parse_number(number) in PUBLISHED
                else:
                    ok = rounds_from(number, values)
                if not ok:
                    problems.append((row[0], column, number))
    return problems


def history_mentions(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return [(path, m.group(0)) for pattern in (ISSUE, SESSION) for m in pattern.finditer(text)]


# --- the tests -------------------------------------------------------------------------


def test_every_link_in_readme_and_docs_resolves():
    problems = [(os.path.relpath(p, ROOT), link, why) for p in markdown_files() for link, why in broken_links(p)]
    assert not problems, problems


def test_readme_results_table_numbers_occur_in_the_result_files():
    with open(README, encoding="utf-8") as f:
        text = f.read()
    header, rows = glance_table(text)
    assert rows and any(h.lower().startswith("paper") for h in header)
    assert not unbacked_numbers(text, result_numbers())


def test_readme_is_at_most_250_lines():
    with open(README, encoding="utf-8") as f:
        assert len(f.read().splitlines()) <= MAX_README_LINES


def test_no_document_cites_issue_numbers_or_sessions():
    found = [(os.path.relpath(p, ROOT), m) for p in project_markdown() for _, m in history_mentions(p)]
    assert not found, found


def test_the_checks_fail_on_what_they_guard(tmp_path):
    """Each check reports a broken case: a missing file, a missing heading, a number in no
    result file, a number the paper did not publish, an issue number, a session."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "A.md").write_text("# A page\n\n## Does it work?\n")
    page = docs / "B.md"
    page.write_text("[ok](A.md#does-it-work) [ok](#b) [gone](NOPE.md) [bad anchor](A.md#nothing)\n"
                    "`[in code](NOPE2.md)` [web](https://example.com)\n\n# B\n")
    global ROOT
    saved, ROOT = ROOT, str(tmp_path)
    try:
        assert sorted(broken_links(str(page))) == [("A.md#nothing", "no such heading"), ("NOPE.md", "no such file")]
    finally:
        ROOT = saved
    assert slug("Fashion-MNIST, one epoch, two seeds, the z=2 baselines") == \
        "fashion-mnist-one-epoch-two-seeds-the-z2-baselines"
    assert slug("Which default, and why") == "which-default-and-why"
    table = (f"{TABLE_BEGIN}\n| claim | paper | here | verdict |\n|---|---|---|---|\n"
             f"| row 1 | IS 6.39 | FID 45.4 / 53.1 | level at 1,500 |\n"
             f"| row 2 | IS 6.40 | FID 45.5 | level |\n{TABLE_END}\n")
    values = sorted([45.37791342992497, 53.13132161557549])
    assert unbacked_numbers(table, values) == [("row 2", "paper", "6.40"), ("row 2", "here", "45.5")]
    assert rounds_from("49.3", sorted(json_numbers({"0": {"fid": 45.38}, "1": {"fid": 53.13}}, set())))
    history = tmp_path / "C.md"
    history.write_text("Fixed in #34 and issue 3, during the ninth session.\n")
    assert [m for _, m in history_mentions(str(history))] == ["#34", "issue 3", "session"]
