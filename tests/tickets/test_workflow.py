"""The ticket lifecycle, pure: every status × action × actor, then each rule's details.

``GRID`` below is written by hand from the issue, not derived from
``TRANSITIONS``: if the two disagree, one of them is wrong and a person decides which.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import deque
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from app.auth.enums import Role
from app.core.errors import Conflict, Forbidden, InvalidInput
from app.tickets.enums import (
    OPEN_STATUSES,
    RESOLVE_RESOLUTIONS,
    TERMINAL_STATUSES,
    Action,
    ActorKind,
    CloseReason,
    EventKind,
    RejectReason,
    Resolution,
    TicketStatus,
)
from app.tickets.workflow import (
    TRANSITIONS,
    ActionNotPermitted,
    ActionParams,
    InvalidTransition,
    MissingActionField,
    QuietPeriodNotOver,
    ReopenWindowExpired,
    TicketState,
    Transition,
    actor_kind_for,
    allowed_actions,
    plan,
    reopen_deadline,
)

S, A, K = TicketStatus, Action, ActorKind
NOW = datetime(2025, 6, 1, 9, 30, tzinfo=UTC)
WINDOW = timedelta(days=7)
QUIET = timedelta(days=3)
OFFICE, OTHER_OFFICE, CANDIDATE = 10, 20, 30

# Expected outcome of every (status, action) for each actor kind:
# a status name = allowed, and the ticket ends there; 409 = the action does not
# exist from this status (for anyone); 403 = it exists, but not for this actor.
GRID = """
status       action    officer      supervisor   admin        reporter   system
new          accept    accepted     accepted     accepted     403        403
new          claim     accepted     accepted     accepted     403        403
new          start     409          409          409          409        409
new          resolve   409          409          409          409        409
new          reject    rejected     rejected     rejected     403        403
new          transfer  new          new          new          403        403
new          reopen    409          409          409          409        409
new          close     409          409          409          409        409
new          comment   new          new          new          403        403
new          escalate  403          403          403          403        new
accepted     accept    409          409          409          409        409
accepted     claim     409          409          409          409        409
accepted     start     in_progress  in_progress  in_progress  403        403
accepted     resolve   resolved     resolved     resolved     403        403
accepted     reject    rejected     rejected     rejected     403        403
accepted     transfer  new          new          new          403        403
accepted     reopen    409          409          409          409        409
accepted     close     409          409          409          409        409
accepted     comment   accepted     accepted     accepted     403        403
accepted     escalate  403          403          403          403        accepted
in_progress  accept    409          409          409          409        409
in_progress  claim     409          409          409          409        409
in_progress  start     409          409          409          409        409
in_progress  resolve   resolved     resolved     resolved     403        403
in_progress  reject    rejected     rejected     rejected     403        403
in_progress  transfer  new          new          new          403        403
in_progress  reopen    409          409          409          409        409
in_progress  close     409          409          409          409        409
in_progress  comment   in_progress  in_progress  in_progress  403        403
in_progress  escalate  403          403          403          403        in_progress
resolved     accept    409          409          409          409        409
resolved     claim     409          409          409          409        409
resolved     start     409          409          409          409        409
resolved     resolve   409          409          409          409        409
resolved     reject    409          409          409          409        409
resolved     transfer  409          409          409          409        409
resolved     reopen    403          accepted     accepted     accepted   403
resolved     close     403          closed       closed       closed     closed
resolved     comment   resolved     resolved     resolved     403        403
resolved     escalate  409          409          409          409        409
closed       accept    409          409          409          409        409
closed       claim     409          409          409          409        409
closed       start     409          409          409          409        409
closed       resolve   409          409          409          409        409
closed       reject    409          409          409          409        409
closed       transfer  409          409          409          409        409
closed       reopen    403          accepted     accepted     accepted   403
closed       close     409          409          409          409        409
closed       comment   closed       closed       closed       403        403
closed       escalate  409          409          409          409        409
rejected     accept    409          409          409          409        409
rejected     claim     409          409          409          409        409
rejected     start     409          409          409          409        409
rejected     resolve   409          409          409          409        409
rejected     reject    409          409          409          409        409
rejected     transfer  409          409          409          409        409
rejected     reopen    409          409          409          409        409
rejected     close     409          409          409          409        409
rejected     comment   rejected     rejected     rejected     403        403
rejected     escalate  409          409          409          409        409
"""


def _parse_grid() -> dict[tuple[S, A, K], str]:
    lines = [line.split() for line in GRID.strip().splitlines()]
    header, rows = lines[0], lines[1:]
    actors = [K(name) for name in header[2:]]
    out: dict[tuple[S, A, K], str] = {}
    for status, action, *cells in rows:
        assert len(cells) == len(actors), (status, action)
        for actor, cell in zip(actors, cells, strict=True):
            key = (S(status), A(action), actor)
            assert key not in out, f"row twice: {key}"
            out[key] = cell
    return out


EXPECTED = _parse_grid()
COMBOS = list(itertools.product(S, A, K))


def expected_allowed(status: S, actor: K) -> list[A]:
    return [a for a in A if EXPECTED[(status, a, actor)] not in {"403", "409"}]


# --- fixtures in plain functions --------------------------------------------------------


def state(status: S, **kw) -> TicketState:
    """A consistent ticket in ``status``: resolved 4 days ago (inside the reopen window,
    past the quiet period), responded to 5 days ago unless new."""
    base: dict = {
        "id": 1,
        "status": status,
        "office_id": OFFICE,
        "candidate_office_ids": (CANDIDATE,),
        "first_response_at": None if status is S.new else NOW - timedelta(days=5),
    }
    if status in {S.resolved, S.closed}:
        base |= {"resolution": Resolution.fixed, "resolved_at": NOW - timedelta(days=4)}
    if status is S.closed:
        base["closed_at"] = NOW - timedelta(days=1)
    if status is S.rejected:
        base |= {"resolution": Resolution.invalid, "closed_at": NOW - timedelta(days=1)}
    return TicketState(**(base | kw))


VALID_PARAMS = {
    A.accept: ActionParams(),
    A.claim: ActionParams(target_office_id=CANDIDATE),
    A.start: ActionParams(),
    A.resolve: ActionParams(resolution=Resolution.fixed, note="filled the pothole"),
    A.reject: ActionParams(reject_reason=RejectReason.invalid, note="photo shows no hazard"),
    A.transfer: ActionParams(target_office_id=OTHER_OFFICE, note="across the river"),
    A.reopen: ActionParams(note="still there"),
    A.close: ActionParams(),
    A.comment: ActionParams(note="called the reporter"),
    A.escalate: ActionParams(note="overdue by 2h"),
}


def run(st: TicketState, action: A, actor: K, params: ActionParams | None = None, now=NOW, **kw):
    kw.setdefault("reopen_window", WINDOW)
    kw.setdefault("quiet_period", QUIET)
    return plan(st, action, actor, VALID_PARAMS[action] if params is None else params, now, **kw)


def apply(st: TicketState, t: Transition) -> TicketState:
    """What the service would do: copy the changes onto the ticket."""
    names = {f.name for f in dataclasses.fields(TicketState)}
    return dataclasses.replace(st, **{k: v for k, v in t.changes.items() if k in names})


def field_errors(exc: pytest.ExceptionInfo[MissingActionField]) -> dict[str, str]:
    return {e["field"]: e["type"] for e in exc.value.errors or []}


# --- the whole table ---------------------------------------------------------------------


def test_grid_covers_every_status_action_and_actor_once():
    assert set(EXPECTED) == set(COMBOS)
    assert len(COMBOS) == len(S) * len(A) * len(K) == 300


def test_table_has_no_rows_outside_the_grid():
    for (status, action), rule in TRANSITIONS.items():
        cells = {EXPECTED[(status, action, k)] for k in K}
        assert cells - {"403"} == {rule.to.value}, (status, action)


@pytest.mark.parametrize(("status", "action", "actor"), COMBOS, ids=lambda v: v.value)
def test_every_combination(status: S, action: A, actor: K):
    expected = EXPECTED[(status, action, actor)]
    st = state(status)
    if expected == "409":
        with pytest.raises(InvalidTransition) as exc:
            run(st, action, actor)
        assert exc.value.status == 409
        assert exc.value.extra["current_status"] == status.value
        assert exc.value.extra["allowed_actions"] == [
            a.value for a in expected_allowed(status, actor)
        ]
    elif expected == "403":
        with pytest.raises(ActionNotPermitted) as exc:
            run(st, action, actor)
        assert exc.value.status == 403
        assert exc.value.extra["allowed_actions"] == [
            a.value for a in expected_allowed(status, actor)
        ]
    else:
        t = run(st, action, actor)
        assert t.to_status == S(expected)
        assert (t.from_status, t.action, t.actor) == (status, action, actor)
        stays = action in {A.comment, A.escalate}
        assert ("status" in t.changes) is not stays
        if not stays:
            assert t.changes["status"] == S(expected)
        e = t.event
        assert (e.from_status, e.to_status, e.actor_kind) == (status, S(expected), actor)
        assert e.kind == EventKind(
            {
                "accept": "accepted",
                "claim": "claimed",
                "start": "started",
                "resolve": "resolved",
                "reject": "rejected",
                "transfer": "transferred",
                "reopen": "reopened",
                "close": "closed",
                "comment": "commented",
                "escalate": "escalated",
            }[action]
        )
        assert e.created_at == NOW
        assert e.note == VALID_PARAMS[action].note


@pytest.mark.parametrize(("status", "actor"), list(itertools.product(S, K)), ids=lambda v: v.value)
def test_allowed_actions_matches_grid(status: S, actor: K):
    assert allowed_actions(status, actor) == expected_allowed(status, actor)


# --- accept, claim, start, first response ------------------------------------------------


def test_accept_assigns_the_actor_and_marks_first_response():
    t = run(state(S.new), A.accept, K.officer)
    assert t.assign_actor is True
    assert t.changes == {"status": S.accepted, "first_response_at": NOW}
    assert t.event.office_id == OFFICE


def test_first_response_is_not_overwritten():
    earlier = NOW - timedelta(hours=3)
    t = run(state(S.new, first_response_at=earlier), A.accept, K.officer)
    assert "first_response_at" not in t.changes


@pytest.mark.parametrize("action", [A.accept, A.claim, A.reject, A.transfer])
def test_first_staff_action_from_new_is_the_first_response(action: A):
    assert run(state(S.new), action, K.supervisor).changes["first_response_at"] == NOW


@pytest.mark.parametrize(("action", "actor"), [(A.comment, K.officer), (A.escalate, K.system)])
def test_comments_and_escalations_are_not_a_response(action: A, actor: K):
    t = run(state(S.new), action, actor)
    assert t.changes == {}
    assert t.to_status is S.new


def test_start_changes_only_the_status():
    t = run(state(S.accepted), A.start, K.officer)
    assert t.changes == {"status": S.in_progress}
    assert t.assign_actor is False


def test_claim_moves_to_the_candidate_office_and_accepts():
    t = run(state(S.new), A.claim, K.officer)
    assert t.changes == {"status": S.accepted, "office_id": CANDIDATE, "first_response_at": NOW}
    assert t.assign_actor is True
    assert t.event.office_id == CANDIDATE
    assert t.event.data == {"from_office_id": OFFICE, "to_office_id": CANDIDATE}


def test_claim_by_an_office_that_is_not_a_candidate_is_forbidden():
    with pytest.raises(ActionNotPermitted, match="not a candidate"):
        run(state(S.new), A.claim, K.officer, ActionParams(target_office_id=99))
    with pytest.raises(ActionNotPermitted):
        run(state(S.new, candidate_office_ids=()), A.claim, K.officer)


def test_claim_needs_a_target_other_than_the_owner():
    with pytest.raises(MissingActionField) as exc:
        run(state(S.new), A.claim, K.officer, ActionParams())
    assert field_errors(exc) == {"target_office_id": "missing"}
    with pytest.raises(MissingActionField) as exc:
        run(state(S.new), A.claim, K.officer, ActionParams(target_office_id=OFFICE))
    assert field_errors(exc) == {"target_office_id": "invalid"}


# --- resolve ------------------------------------------------------------------------------


@pytest.mark.parametrize("resolution", sorted(RESOLVE_RESOLUTIONS))
@pytest.mark.parametrize("status", [S.accepted, S.in_progress])
def test_resolve_with_each_resolution_code(status: S, resolution: Resolution):
    t = run(state(status), A.resolve, K.officer, ActionParams(resolution=resolution, note="done"))
    assert t.changes == {"status": S.resolved, "resolution": resolution, "resolved_at": NOW}
    assert t.event.reason == resolution.value
    assert t.event.note == "done"


@pytest.mark.parametrize("code", ["duplicate", "invalid", "not_responsible", "gone"])
def test_resolve_refuses_codes_that_are_not_resolutions(code: str):
    with pytest.raises(MissingActionField) as exc:
        run(state(S.in_progress), A.resolve, K.officer, ActionParams(resolution=code, note="x"))  # type: ignore[arg-type]
    assert field_errors(exc) == {"resolution": "invalid"}


def test_resolve_needs_a_code_and_a_note_and_says_so_at_once():
    with pytest.raises(MissingActionField) as exc:
        run(state(S.in_progress), A.resolve, K.officer, ActionParams(note="   "))
    assert field_errors(exc) == {"note": "missing", "resolution": "missing"}
    problem = exc.value.to_problem()
    assert problem["status"] == 422
    assert {e["field"] for e in problem["errors"]} == {"note", "resolution"}
    assert all(e["reason"] for e in problem["errors"])


def test_resolution_given_as_its_string_is_accepted_and_note_is_stripped():
    t = run(
        state(S.accepted),
        A.resolve,
        K.officer,
        ActionParams(resolution="self_resolved", note=" gone \n"),
    )  # type: ignore[arg-type]
    assert t.changes["resolution"] is Resolution.self_resolved
    assert t.event.note == "gone"


def test_fields_an_action_does_not_use_are_refused():
    with pytest.raises(MissingActionField) as exc:
        run(state(S.new), A.accept, K.officer, ActionParams(resolution=Resolution.fixed))
    assert field_errors(exc) == {"resolution": "unexpected"}


# --- reject -------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", list(RejectReason))
@pytest.mark.parametrize("status", sorted(OPEN_STATUSES))
def test_reject_with_each_reason_keeps_it_as_the_resolution(status: S, reason: RejectReason):
    params = ActionParams(
        reject_reason=reason,
        note="why",
        duplicate_of=7 if reason is RejectReason.duplicate else None,
    )
    t = run(state(status), A.reject, K.officer, params)
    expected = {"status": S.rejected, "resolution": Resolution(reason.value), "closed_at": NOW}
    if status is S.new:
        expected["first_response_at"] = NOW
    assert t.changes == expected
    assert "resolved_at" not in t.changes
    assert t.event.reason == reason.value
    assert t.event.data == ({"duplicate_of": 7} if reason is RejectReason.duplicate else {})


def test_duplicate_requires_the_original_ticket():
    with pytest.raises(MissingActionField) as exc:
        run(state(S.new), A.reject, K.officer, ActionParams(reject_reason=RejectReason.duplicate))
    assert field_errors(exc) == {"duplicate_of": "missing"}


def test_duplicate_note_is_optional():
    t = run(
        state(S.new),
        A.reject,
        K.officer,
        ActionParams(reject_reason=RejectReason.duplicate, duplicate_of=7),
    )
    assert t.event.note is None


@pytest.mark.parametrize("dup", [1, 0, -3])
def test_a_ticket_is_not_a_duplicate_of_itself_or_of_nothing(dup: int):
    with pytest.raises(MissingActionField) as exc:
        run(
            state(S.new),
            A.reject,
            K.officer,
            ActionParams(reject_reason=RejectReason.duplicate, duplicate_of=dup),
        )
    assert field_errors(exc) == {"duplicate_of": "invalid"}


def test_duplicate_of_only_with_reason_duplicate():
    params = ActionParams(reject_reason=RejectReason.invalid, note="x", duplicate_of=7)
    with pytest.raises(MissingActionField) as exc:
        run(state(S.new), A.reject, K.officer, params)
    assert field_errors(exc) == {"duplicate_of": "unexpected"}


@pytest.mark.parametrize("reason", [RejectReason.invalid, RejectReason.not_responsible])
def test_invalid_and_not_responsible_need_a_note_for_the_reporter(reason: RejectReason):
    with pytest.raises(MissingActionField) as exc:
        run(state(S.new), A.reject, K.officer, ActionParams(reject_reason=reason))
    assert field_errors(exc) == {"note": "missing"}


def test_reject_needs_a_known_reason():
    with pytest.raises(MissingActionField) as exc:
        run(state(S.new), A.reject, K.officer, ActionParams())
    assert field_errors(exc) == {"reject_reason": "missing"}
    with pytest.raises(MissingActionField) as exc:
        run(state(S.new), A.reject, K.officer, ActionParams(reject_reason="spam", note="x"))  # type: ignore[arg-type]
    assert field_errors(exc) == {"reject_reason": "invalid"}


# --- transfer -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", sorted(OPEN_STATUSES))
def test_transfer_goes_back_to_new_in_the_other_office_without_assignee(status: S):
    st = state(status, first_response_at=NOW - timedelta(hours=1))
    t = run(st, A.transfer, K.officer)
    assert t.changes == {"status": S.new, "office_id": OTHER_OFFICE, "assignee_id": None}
    assert t.event.office_id == OTHER_OFFICE
    assert t.event.data == {"from_office_id": OFFICE, "to_office_id": OTHER_OFFICE}
    assert t.event.note == "across the river"


def test_transfer_requires_target_and_reason():
    with pytest.raises(MissingActionField) as exc:
        run(state(S.accepted), A.transfer, K.officer, ActionParams())
    assert field_errors(exc) == {"note": "missing", "target_office_id": "missing"}
    with pytest.raises(MissingActionField) as exc:
        run(state(S.accepted), A.transfer, K.officer, ActionParams(target_office_id=OTHER_OFFICE))
    assert field_errors(exc) == {"note": "missing"}
    with pytest.raises(MissingActionField) as exc:
        run(
            state(S.accepted),
            A.transfer,
            K.officer,
            ActionParams(target_office_id=OFFICE, note="x"),
        )
    assert field_errors(exc) == {"target_office_id": "invalid"}


# --- reopen -------------------------------------------------------------------------------


@pytest.mark.parametrize("actor", [K.reporter, K.supervisor, K.admin])
@pytest.mark.parametrize("status", [S.resolved, S.closed])
def test_reopen_inside_the_window_is_rework(status: S, actor: K):
    st = state(status, reopen_count=2, resolution=Resolution.unable_to_fix)
    t = run(st, A.reopen, actor)
    assert t.to_status is S.accepted
    assert t.changes == {
        "status": S.accepted,
        "resolution": None,
        "resolved_at": None,
        "closed_at": None,
        "reopen_count": 3,
    }
    assert t.assign_actor is False and "assignee_id" not in t.changes  # the officer keeps it
    assert t.event.data == {
        "previous_resolution": "unable_to_fix",
        "previous_resolved_at": st.resolved_at.isoformat(),
        "previous_closed_at": st.closed_at.isoformat() if st.closed_at else None,
        "reopen_count": 3,
    }
    assert t.event.note == "still there"


def test_reopen_window_edges():
    st = state(S.resolved, resolved_at=NOW - WINDOW)
    assert run(st, A.reopen, K.reporter).changes["reopen_count"] == 1  # the last moment counts
    late = NOW + timedelta(microseconds=1)
    with pytest.raises(ReopenWindowExpired) as exc:
        run(st, A.reopen, K.reporter, now=late)
    assert isinstance(exc.value, Conflict) and exc.value.status == 409
    assert exc.value.extra["reopen_deadline"] == NOW.isoformat()
    assert reopen_deadline(st, WINDOW) == NOW


def test_reopen_window_runs_from_resolution_not_from_closing():
    st = state(S.closed, resolved_at=NOW - timedelta(days=8), closed_at=NOW - timedelta(hours=1))
    with pytest.raises(ReopenWindowExpired):
        run(st, A.reopen, K.supervisor)


def test_reopen_without_any_resolution_time_is_refused():
    with pytest.raises(ReopenWindowExpired):
        run(state(S.resolved, resolved_at=None), A.reopen, K.reporter)


def test_reopen_needs_a_reason():
    with pytest.raises(MissingActionField) as exc:
        run(state(S.resolved), A.reopen, K.reporter, ActionParams())
    assert field_errors(exc) == {"note": "missing"}


# --- close --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actor", "reason"),
    [
        (K.supervisor, CloseReason.verified),
        (K.admin, CloseReason.verified),
        (K.reporter, CloseReason.confirmed),
        (K.system, CloseReason.quiet_period),
    ],
)
def test_close_from_resolved_keeps_the_resolution(actor: K, reason: CloseReason):
    st = state(S.resolved, resolution=Resolution.self_resolved)
    t = run(st, A.close, actor)
    assert t.changes == {"status": S.closed, "closed_at": NOW}
    assert t.event.reason == reason.value
    assert t.event.data == {"resolution": "self_resolved"}
    assert apply(st, t).resolution is Resolution.self_resolved


@pytest.mark.parametrize("status", [s for s in S if s is not S.resolved])
@pytest.mark.parametrize("actor", [K.reporter, K.supervisor, K.system])
def test_close_only_from_resolved(status: S, actor: K):
    with pytest.raises(InvalidTransition):
        run(state(status), A.close, actor)


def test_officer_cannot_close_their_own_work():
    with pytest.raises(ActionNotPermitted):
        run(state(S.resolved), A.close, K.officer)


def test_auto_close_waits_for_the_quiet_period():
    st = state(S.resolved, resolved_at=NOW - QUIET)
    assert run(st, A.close, K.system).to_status is S.closed
    with pytest.raises(QuietPeriodNotOver) as exc:
        run(st, A.close, K.system, now=NOW - timedelta(seconds=1))
    assert exc.value.status == 409
    assert exc.value.extra["close_due_at"] == NOW.isoformat()
    # people need not wait
    assert run(st, A.close, K.reporter, now=NOW - timedelta(days=2)).to_status is S.closed


def test_auto_close_needs_to_know_the_quiet_period():
    with pytest.raises(ValueError, match="quiet_period"):
        run(state(S.resolved), A.close, K.system, quiet_period=None)


@pytest.mark.parametrize("resolution", sorted(RESOLVE_RESOLUTIONS))
def test_closed_keeps_the_resolution_given_at_resolve_time(resolution: Resolution):
    st = state(S.new)
    for action, actor, params in [
        (A.accept, K.officer, None),
        (A.start, K.officer, None),
        (A.resolve, K.officer, ActionParams(resolution=resolution, note="n")),
        (A.close, K.supervisor, None),
    ]:
        st = apply(st, run(st, action, actor, params))
    assert (st.status, st.resolution) == (S.closed, resolution)
    assert st.resolved_at == st.closed_at == st.first_response_at == NOW


# --- comment, escalate, misc --------------------------------------------------------------


@pytest.mark.parametrize("status", list(S))
def test_comment_in_any_status_changes_nothing_but_needs_words(status: S):
    t = run(state(status), A.comment, K.supervisor)
    assert (t.to_status, t.changes, t.event.kind) == (status, {}, EventKind.commented)
    with pytest.raises(MissingActionField):
        run(state(status), A.comment, K.officer, ActionParams(note=""))


def test_naive_now_is_a_programming_error():
    with pytest.raises(ValueError, match="timezone"):
        run(state(S.new), A.accept, K.officer, now=NOW.replace(tzinfo=None))


def test_plan_is_pure_and_its_result_immutable():
    st = state(S.new)
    assert run(st, A.claim, K.officer) == run(st, A.claim, K.officer)
    assert st == state(S.new)
    t = run(st, A.claim, K.officer)
    with pytest.raises(TypeError):
        t.changes["status"] = S.closed  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.to_status = S.closed  # type: ignore[misc]


def test_errors_are_the_typed_problems_the_api_renders():
    assert issubclass(InvalidTransition, Conflict)
    assert issubclass(ActionNotPermitted, Forbidden)
    assert issubclass(MissingActionField, InvalidInput)
    with pytest.raises(InvalidTransition) as exc:
        run(state(S.closed), A.resolve, K.supervisor)
    body = exc.value.to_problem("/v1/tickets/1/resolve")
    assert body["status"] == 409
    assert body["type"].endswith("/invalid-transition")
    assert body["current_status"] == "closed"
    assert body["allowed_actions"] == ["reopen", "comment"]
    with pytest.raises(ActionNotPermitted) as exc2:
        run(state(S.new), A.accept, K.reporter)
    assert exc2.value.to_problem()["allowed_actions"] == []


def test_outcome_vocabularies_line_up():
    reject_codes = {Resolution(r.value) for r in RejectReason}
    assert reject_codes | RESOLVE_RESOLUTIONS == set(Resolution)
    assert not reject_codes & RESOLVE_RESOLUTIONS


@pytest.mark.parametrize(
    ("role", "is_reporter", "kind"),
    [
        (Role.rider, True, K.reporter),
        (Role.rider, False, None),
        (Role.viewer, False, None),
        (Role.officer, True, K.officer),
        (Role.supervisor, False, K.supervisor),
        (Role.admin, False, K.admin),
    ],
)
def test_actor_kind_for_role(role: Role, is_reporter: bool, kind: K | None):
    assert actor_kind_for(role, is_reporter=is_reporter) == kind


def test_state_from_a_ticket_row():
    row = SimpleNamespace(
        id=5,
        status="resolved",
        office_id=OFFICE,
        resolution="fixed",
        reopen_count=1,
        first_response_at=NOW,
        resolved_at=NOW,
        closed_at=None,
        candidate_office_ids=[3, 4],
    )
    st = TicketState.of(row)
    assert st.status is S.resolved and st.resolution is Resolution.fixed
    assert st.candidate_office_ids == (3, 4)


# --- the graph, explored ----------------------------------------------------------------


# What a caller can be told "no" with, for valid fields.
REFUSALS = (InvalidTransition, ActionNotPermitted, ReopenWindowExpired, QuietPeriodNotOver)


def _param_variants(action: A) -> list[ActionParams]:
    if action is A.resolve:
        return [ActionParams(resolution=r, note="n") for r in sorted(RESOLVE_RESOLUTIONS)]
    if action is A.reject:
        return [
            ActionParams(
                reject_reason=r, note="n", duplicate_of=7 if r is RejectReason.duplicate else None
            )
            for r in RejectReason
        ]
    return [VALID_PARAMS[action]]


def _explore(
    max_reopens: int = 2,
) -> tuple[list[tuple[TicketState, bool, int]], set[tuple[S, A, S]]]:
    """Every state reachable from a fresh ticket, by every action, actor and code.

    A node is (ticket state, passed through ``resolved`` since the last reopen,
    reopens on the path). Times are fixed and the quiet period zero, so only the
    rules limit the walk; reopens are capped to keep the graph finite.
    """
    start = (
        TicketState(id=1, status=S.new, office_id=OFFICE, candidate_office_ids=(CANDIDATE,)),
        False,
        0,
    )
    seen = {start}
    nodes = []
    edges: set[tuple[S, A, S]] = set()
    queue = deque([start])
    while queue:
        node = queue.popleft()
        st, via_resolved, reopens = node
        nodes.append(node)
        for action, actor in itertools.product(A, K):
            for params in _param_variants(action):
                try:
                    t = plan(
                        st,
                        action,
                        actor,
                        params,
                        NOW,
                        reopen_window=WINDOW,
                        quiet_period=timedelta(0),
                    )
                except REFUSALS:
                    continue
                edges.add((st.status, action, t.to_status))
                nxt_state = apply(st, t)
                # transfers bounce between two offices; one more hop adds nothing new
                nxt_state = dataclasses.replace(
                    nxt_state, office_id=OFFICE, candidate_office_ids=(CANDIDATE,)
                )
                nxt = (
                    nxt_state,
                    (via_resolved or t.to_status is S.resolved) and action is not A.reopen,
                    reopens + (action is A.reopen),
                )
                if nxt[2] <= max_reopens and nxt not in seen:
                    seen.add(nxt)
                    queue.append(nxt)
    return nodes, edges


def test_explored_states_keep_their_invariants():
    nodes, edges = _explore()
    assert len(nodes) > 20
    assert {st.status for st, _, _ in nodes} == set(S)
    for st, via_resolved, reopens in nodes:
        assert st.reopen_count == reopens
        if st.status is S.closed:
            assert via_resolved, "closed without passing through resolved"
            assert st.resolution in RESOLVE_RESOLUTIONS
            assert st.resolved_at is not None and st.closed_at is not None
        elif st.status is S.rejected:
            assert st.resolution in {Resolution(r.value) for r in RejectReason}
            assert st.closed_at is not None and st.resolved_at is None
        elif st.status is S.resolved:
            assert st.resolution in RESOLVE_RESOLUTIONS
            assert st.resolved_at is not None and st.closed_at is None
        else:
            assert st.resolution is st.resolved_at is st.closed_at is None
        if st.status is not S.new:
            assert st.first_response_at is not None

    # every way into closed comes from resolved; without resolved, closed is unreachable
    assert {src for src, _, dst in edges if dst is S.closed and src is not S.closed} == {S.resolved}
    reach, todo = {S.new}, [S.new]
    while todo:
        here = todo.pop()
        for src, _, dst in edges:
            if src is here and dst is not S.resolved and dst not in reach:
                reach.add(dst)
                todo.append(dst)
    assert S.closed not in reach

    # terminal: nothing moves a rejected ticket; only reopen moves a closed one
    exits = {s: {a for src, a, dst in edges if src is s and dst is not s} for s in S}
    assert exits[S.rejected] == set()
    assert exits[S.closed] == {A.reopen}
    assert {s for s in S if exits[s] <= {A.reopen}} == TERMINAL_STATUSES
    assert all(exits[s] for s in OPEN_STATUSES | {S.resolved})
