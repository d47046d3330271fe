"""Who may do what: roles, permissions, and the dependency every route declares.

Deny by default: a route without a :class:`Require` dependency is refused by the test that
walks every route (tests/web/test_authz.py), and a role has only the permissions listed here.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from veille.store.accounts import Role


class Permission(StrEnum):
    VIEW = "view"
    """Read alerts, conversations, posts, rules, trends and source health."""
    SEARCH = "search"
    """Search the whole archive with the rule language."""
    EXPORT = "export"
    """Export search results as CSV (with a justification, audited)."""
    TRIAGE = "triage"
    """Acknowledge, assign, resolve and annotate alerts; create and expire silences."""
    PERSONAL_DATA = "personal_data"
    """See the personal data the detectors found in posts (national numbers, IBANs, phone
    numbers, addresses, protected names …) in clear; every such view is audited. Without it,
    those spans are shown as ``⟨kind⟩``."""
    RULES_TEST = "rules.test"
    """Validate a rule and dry-run it on the archive."""
    RULES_EDIT = "rules.edit"
    """Create and edit rules (written to the rule files, audited)."""
    ADMIN = "admin"
    """Users, teams, watch lists, the audit log and the retention job."""
    SELF = "self"
    """One's own profile and API tokens."""
    DRAFT = "draft"
    """Check a draft before posting it (professional secrecy); every role may."""


ROLE_PERMISSIONS: Final[dict[Role, frozenset[Permission]]] = {
    "viewer": frozenset({Permission.VIEW, Permission.SELF, Permission.DRAFT}),
    "analyst": frozenset(
        {
            Permission.VIEW,
            Permission.SELF,
            Permission.DRAFT,
            Permission.SEARCH,
            Permission.EXPORT,
            Permission.PERSONAL_DATA,
            Permission.TRIAGE,
            Permission.RULES_TEST,
            Permission.RULES_EDIT,
        }
    ),
    "admin": frozenset(Permission),
}


def allowed(role: str, permission: Permission) -> bool:
    """Whether ``role`` holds ``permission`` (an unknown role holds nothing)."""
    return permission in ROLE_PERMISSIONS.get(role, frozenset())  # type: ignore[call-overload]
