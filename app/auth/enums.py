from enum import StrEnum


class Role(StrEnum):
    rider = "rider"
    officer = "officer"
    supervisor = "supervisor"
    admin = "admin"
    viewer = "viewer"


STAFF_ROLES = frozenset({Role.officer, Role.supervisor, Role.admin})
OFFICE_SCOPED_ROLES = frozenset({Role.officer, Role.supervisor, Role.viewer})
