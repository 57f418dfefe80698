#!/usr/bin/env python3
"""The version in Cargo.toml, the CHANGELOG and the git tags agree.

- If Cargo.toml's version has a CHANGELOG section (`## [X.Y.Z] - date`),
  it is a release: that section is the newest, `[Unreleased]` is empty
  (everything the package ships is under its version), and, in a git
  checkout, the tag `vX.Y.Z` exists.
- Otherwise the version is the next release in the making: it is newer than
  every released section, and `[Unreleased]` says what it will bring.
- Every released section has a date, and the sections are newest first.

Usage: python3 .ci/release_check.py   (from the crate's root)
"""
import os
import re
import subprocess
import sys


def version_key(version):
    return tuple(int(part) for part in version.split("."))


def main():
    cargo = open("Cargo.toml", encoding="utf-8").read()
    package = cargo.split("[package]", 1)[1].split("\n[", 1)[0]
    version = re.search(r'^version\s*=\s*"([^"]+)"', package, re.M).group(1)
    changelog = open("CHANGELOG.md", encoding="utf-8").read()
    sections = re.split(r"^## ", changelog, flags=re.M)[1:]
    problems = []
    unreleased = None
    released = []
    for section in sections:
        heading, _, body = section.partition("\n")
        if heading.strip() == "[Unreleased]":
            unreleased = body
            continue
        m = re.fullmatch(r"\[(\d+\.\d+\.\d+)\] - (\d{4}-\d{2}-\d{2})", heading.strip())
        if not m:
            problems.append(f"CHANGELOG heading {heading.strip()!r} is not `[X.Y.Z] - YYYY-MM-DD`")
            continue
        released.append(m.group(1))
    if unreleased is None:
        problems.append("CHANGELOG has no [Unreleased] section")
        unreleased = ""
    pending = [line for line in unreleased.splitlines() if line.startswith("- ")]
    if released != sorted(released, key=version_key, reverse=True):
        problems.append(f"CHANGELOG releases are not newest first: {released}")
    if version in released:
        if released[0] != version:
            problems.append(f"Cargo.toml says {version}, but the CHANGELOG's newest release is {released[0]}")
        if pending:
            problems.append(
                f"Cargo.toml says {version}, a release, but [Unreleased] lists {len(pending)} "
                f"change(s) that would ship under it: head them with the next version"
            )
        if os.path.exists(".git"):
            tags = subprocess.run(["git", "tag", "--list", "v*"],
                                  capture_output=True, text=True, check=True).stdout.split()
            if not tags:
                print("no tags in this clone (cloned without them?): the tag is not checked")
            elif f"v{version}" not in tags:
                problems.append(f"release {version} has no git tag v{version}")
    else:
        if released and version_key(version) <= version_key(released[0]):
            problems.append(f"Cargo.toml's {version} is neither released nor newer than {released[0]}")
        if not pending:
            problems.append(f"Cargo.toml's {version} is unreleased, but [Unreleased] is empty")
    for p in problems:
        print(p)
    state = "released" if version in released else "in the making"
    print(f"version {version} ({state}); CHANGELOG releases {', '.join(released)}: "
          + ("ok" if not problems else f"{len(problems)} problem(s)"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
