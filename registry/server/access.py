"""Who may pull and push where: rules by repository pattern, first match wins.

An access file has one rule a line, ``PATTERN PULL PUSH``; ``#`` starts a comment::

    # repositories      pull        push
    library/*           *           alice,bob
    @owner/*            +           @owner
    *                   +           -

PATTERN is a shell-style glob over the repository name. PULL and PUSH are comma-separated
lists of user names and these words: ``*`` anyone, signed in or not; ``+`` anyone signed in;
``@owner`` the user named like the repository's first component (``alice`` for
``alice/model``); ``-`` no one. A repository no rule matches gets the default rule.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .credentials import CredentialsError

PULL, PUSH = "pull", "push"
ACTIONS = (PULL, PUSH)
_WORDS = {"*", "+", "-", "@owner"}


@dataclass(frozen=True, slots=True)
class Rule:
    pattern: str
    pull: frozenset[str]
    push: frozenset[str]

    def matches(self, repository: str) -> bool:
        if self.pattern.startswith("@owner/"):
            return fnmatch.fnmatchcase(repository.partition("/")[2], self.pattern[7:])
        return fnmatch.fnmatchcase(repository, self.pattern)

    def allows(self, user: str | None, repository: str, action: str) -> bool:
        who = self.pull if action == PULL else self.push
        if "*" in who:
            return True
        if user is None:
            return False
        if "+" in who or user in who:
            return True
        return "@owner" in who and repository.split("/")[0] == user


def rule(pattern: str, pull: str, push: str) -> Rule:
    return Rule(pattern, _who(pull), _who(push))


def _who(text: str) -> frozenset[str]:
    return frozenset(part for part in text.split(",") if part and part != "-")


class Access:
    """The rules in force; :meth:`open` lets everyone do everything (``--auth none``)."""

    def __init__(self, rules: Sequence[Rule], default: Rule) -> None:
        self.rules = tuple(rules)
        self.default = default

    @classmethod
    def open(cls) -> Access:
        return cls((), rule("*", "*", "*"))

    @classmethod
    def signed_in(cls, *, anonymous_pull: bool) -> Access:
        """Push for anyone signed in; pull for them too, and for everyone if allowed."""
        return cls((), rule("*", "*" if anonymous_pull else "+", "+"))

    def with_file(self, path: Path) -> Access:
        """These rules, with the file's rules tried first."""
        return Access((*load(path), *self.rules), self.default)

    def allows(self, user: str | None, repository: str, action: str) -> bool:
        for candidate in self.rules:
            if candidate.matches(repository):
                return candidate.allows(user, repository, action)
        return self.default.allows(user, repository, action)


def load(path: Path) -> list[Rule]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CredentialsError(f"{path}: cannot read it ({exc})") from exc
    rules = []
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        words = [w for f in fields[1:] for w in f.split(",") if w]
        bad = [w for w in words if w.startswith(("*", "+", "@")) and w not in _WORDS]
        if len(fields) != 3 or bad:
            raise CredentialsError(
                f"{path}:{number}: expected PATTERN PULL PUSH, e.g. 'library/* * alice'")
        rules.append(rule(*fields))
    return rules
