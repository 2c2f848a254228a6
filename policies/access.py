"""Which policy entry governs an identity: the first whose `identities` match (Trino's rule).

Names and globs are matched with `fnmatch`, case-sensitively, so `agent-*` covers every agent
key and `*` covers everyone, `anonymous` included.
"""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase

from policies.identity import Identity
from sidecar.config import Policy


def matching_policy(
    policies: Sequence[Policy] | None, identity: Identity
) -> tuple[int, Policy] | None:
    """The index and entry of the first policy naming `identity`; None when none does."""
    for index, policy in enumerate(policies or ()):
        if any(fnmatchcase(identity.name, pattern) for pattern in policy.identities):
            return index, policy
    return None
