# SPDX-License-Identifier: Apache-2.0
"""The docs check of the test command (scripts/check-docs.py): the tree passes it, and it
fails on a link or a path mention that points at nothing."""
import os
import shutil
import subprocess
import tempfile

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CHECK = os.path.join(TOP, "scripts", "check-docs.py")


def run(root):
    return subprocess.run(["/usr/bin/python3", CHECK, "--root", root], capture_output=True,
                          text=True, timeout=120)


def test_tree_references_resolve():
    out = run(TOP)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "references ok" in out.stdout


def test_broken_references_fail():
    d = tempfile.mkdtemp(prefix="berth-docs-")
    try:
        os.makedirs(os.path.join(d, "docs"))
        with open(os.path.join(d, "docs", "a.md"), "w") as f:
            f.write("# A\n\n## Good part\n\nSee [b](b.md), [part](#good-part) and\n"
                    "[gone](missing.md), [bad anchor](b.md#nowhere), [out](../../etc/passwd).\n"
                    "```\n[in a fence](not-checked.md)\n```\n")
        with open(os.path.join(d, "docs", "b.md"), "w") as f:
            f.write("# B\n")
        with open(os.path.join(d, "x.c"), "w") as f:
            f.write("/* as docs/b.md says; see docs/style.md */\n")
        out = run(d)
        assert out.returncode == 1
        lines = out.stdout.splitlines()
        assert lines == [
            "docs/a.md:6: link 'missing.md': no such file",
            "docs/a.md:6: link 'b.md#nowhere': no heading '#nowhere' in docs/b.md",
            "docs/a.md:6: link '../../etc/passwd' leaves the repository",
            "x.c:1: mentions 'docs/style.md', which does not exist",
        ], out.stdout
        # fixed, it passes
        with open(os.path.join(d, "docs", "style.md"), "w") as f:
            f.write("# style\n")
        with open(os.path.join(d, "docs", "a.md"), "w") as f:
            f.write("# A\n\n[b](b.md#b)\n")
        assert run(d).returncode == 0
    finally:
        shutil.rmtree(d, ignore_errors=True)
