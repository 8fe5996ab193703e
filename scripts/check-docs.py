#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Checks the references between the files of the tree, so none points at nothing.

  scripts/check-docs.py [--root DIR]

In every tracked Markdown file (git ls-files, or every *.md under DIR when it is not a git
checkout) each link [text](target) and <a href> with a relative target must name a file or
directory that exists, relative to the Markdown file, inside DIR; a "#anchor" must be a
heading of the target. In every tracked text file, each mention of a repository path
under docs/, scripts/ or bench/ (like `docs/style.md` in a comment) must exist from DIR's
top (files under tests/ are left out: their fixtures name made-up paths). Prints one line per broken reference ("FILE:LINE: ...") and exits 1 if there is any.
"""
import argparse
import os
import re
import subprocess
import sys

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|<a\s+href=\"([^\"]+)\"")
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")
MENTION = re.compile(r"(?<![\w/.-])((?:docs|scripts|bench)/[\w.-]+\.(?:md|sh|py|json|conflist"
                     r"|service|8|5))(?![\w/-])")
FENCE = re.compile(r"^\s*(```|~~~)")
TEXT_SUFFIXES = (".c", ".h", ".md", ".py", ".sh", ".txt", ".json", ".service", ".proto", ".8",
                 ".5", ".in", ".yaml", ".yml", ".conflist")


def tracked(root):
    try:
        out = subprocess.run(["git", "-C", root, "ls-files", "-z"], capture_output=True,
                             check=True).stdout.decode()
        files = [f for f in out.split("\0") if f]
        if files:
            return files
    except (OSError, subprocess.CalledProcessError):
        pass
    found = []
    for d, dirs, names in os.walk(root):
        dirs[:] = [x for x in dirs if not x.startswith((".", "build"))]
        for n in names:
            found.append(os.path.relpath(os.path.join(d, n), root))
    return found


def slug(heading):
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to '-'."""
    s = re.sub(r"[`*_~]", "", heading.strip().lower())
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def anchors(path):
    out, seen = set(), {}
    in_fence = False
    with open(path, errors="replace") as f:
        for line in f:
            if FENCE.match(line):
                in_fence = not in_fence
            if in_fence:
                continue
            m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
            if m:
                s = slug(m.group(1))
                n = seen.get(s, 0)
                seen[s] = n + 1
                out.add(s if n == 0 else f"{s}-{n}")
    return out


def check_md(root, rel, problems):
    path = os.path.join(root, rel)
    in_fence = False
    with open(path, errors="replace") as f:
        lines = f.readlines()
    for no, line in enumerate(lines, 1):
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        line = re.sub(r"`[^`]*`", "", line)  # code spans are not links
        targets = [a or b for a, b in LINK.findall(line)] + IMAGE.findall(line)
        for t in targets:
            if re.match(r"^[a-z][a-z0-9+.-]*:", t, re.I):  # http:, https:, mailto:
                continue
            target, _, anchor = t.partition("#")
            dest = os.path.normpath(os.path.join(os.path.dirname(path), target)) if target \
                else path
            if os.path.relpath(dest, root).startswith(".."):
                problems.append(f"{rel}:{no}: link '{t}' leaves the repository")
                continue
            if not os.path.exists(dest):
                problems.append(f"{rel}:{no}: link '{t}': no such file")
                continue
            if anchor and dest.endswith(".md") and anchor not in anchors(dest):
                problems.append(f"{rel}:{no}: link '{t}': no heading '#{anchor}' in "
                                f"{os.path.relpath(dest, root)}")


def check_mentions(root, rel, problems):
    if rel.startswith("tests/"):  # tests name made-up paths in their fixtures
        return
    if not rel.endswith(TEXT_SUFFIXES) and os.path.basename(rel) not in ("CMakeLists.txt",):
        return
    try:
        with open(os.path.join(root, rel), errors="replace") as f:
            lines = f.readlines()
    except (IsADirectoryError, FileNotFoundError):
        return
    for no, line in enumerate(lines, 1):
        for m in MENTION.findall(line):
            if not os.path.exists(os.path.join(root, m)):
                problems.append(f"{rel}:{no}: mentions '{m}', which does not exist")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=os.path.join(os.path.dirname(__file__), ".."))
    args = ap.parse_args()
    root = os.path.abspath(args.root)
    problems = []
    files = sorted(tracked(root))
    for rel in files:
        if not os.path.isfile(os.path.join(root, rel)):
            continue
        if rel.endswith(".md"):
            check_md(root, rel, problems)
        check_mentions(root, rel, problems)
    for p in problems:
        print(p)
    n_md = sum(1 for f in files if f.endswith(".md"))
    if problems:
        print(f"check-docs: {len(problems)} broken reference(s)", file=sys.stderr)
        return 1
    print(f"check-docs: {n_md} Markdown files and {len(files)} tracked files, references ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
