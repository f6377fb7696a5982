"""The pure routing decision, case by case."""

from app.grids.routing import Candidate, RouteReason, decide


def cand(id_, code, depth, path, *, covers=False, dist=0.0, area=1.0):
    return Candidate(id_, code, code, depth, path, area, covers, dist)


CITY = cand(1, "C", 0, "/1/", covers=True, area=1000)
D1 = cand(2, "D1", 1, "/1/2/", covers=True, area=100)
D2 = cand(3, "D2", 1, "/1/3/", area=90, dist=400)
G1 = cand(4, "G1", 2, "/1/2/4/", covers=True, area=5)


def test_deepest_covering_office_wins():
    d = decide([CITY, D1, G1], tolerance_m=150, border_margin_m=25)
    assert d.office.code == "G1"
    assert d.reason is RouteReason.inside
    assert d.distance_m == 0


def test_nothing_near_is_none():
    far = cand(9, "X", 1, "/9/", dist=151)
    assert decide([far], tolerance_m=150, border_margin_m=25) is None
    assert decide([], tolerance_m=150, border_margin_m=25) is None


def test_shared_edge_is_deterministic_smaller_area_then_code():
    a = cand(5, "B", 2, "/1/2/5/", covers=True, area=5)
    b = cand(6, "A", 2, "/1/2/6/", covers=True, area=5)
    c = cand(7, "Z", 2, "/1/2/7/", covers=True, area=4)
    for order in ([a, b, c], [c, b, a], [b, c, a]):
        d = decide([CITY, D1, *order], tolerance_m=150, border_margin_m=25)
        assert d.office.code == "Z"
        assert d.reason is RouteReason.border
        assert [x.code for x in d.alternatives] == ["A", "B"]
    d = decide([CITY, D1, a, b], tolerance_m=150, border_margin_m=25)
    assert d.office.code == "A"  # equal areas: lower code


def test_neighbour_within_border_margin_makes_border():
    near = cand(8, "G2", 2, "/1/2/8/", dist=20)
    d = decide([CITY, D1, G1, near], tolerance_m=150, border_margin_m=25)
    assert d.office.code == "G1"
    assert d.reason is RouteReason.border
    assert [x.code for x in d.alternatives] == ["G2"]
    farther = cand(8, "G2", 2, "/1/2/8/", dist=30)
    d = decide([CITY, D1, G1, farther], tolerance_m=150, border_margin_m=25)
    assert d.reason is RouteReason.inside
    assert d.alternatives == ()


def test_gap_between_grids_goes_to_nearest_grid_within_tolerance():
    g_near = cand(4, "G1", 2, "/1/2/4/", dist=40)
    g_far = cand(5, "G2", 2, "/1/2/5/", dist=90)
    d = decide([CITY, D1, g_near, g_far], tolerance_m=150, border_margin_m=25)
    assert d.office.code == "G1"
    assert d.reason is RouteReason.nearest
    assert d.distance_m == 40


def test_gap_grid_must_be_below_the_covering_office():
    # A grid of the *other* district does not take a point inside D1.
    other = cand(9, "G9", 2, "/1/3/9/", dist=10)
    d = decide([CITY, D1, other], tolerance_m=150, border_margin_m=25)
    assert d.office.code == "D1"


def test_gap_beyond_tolerance_stays_with_covering_office():
    g = cand(4, "G1", 2, "/1/2/4/", dist=151)
    d = decide([CITY, D1, g], tolerance_m=150, border_margin_m=25)
    assert d.office.code == "D1"
    assert d.reason is RouteReason.inside


def test_outside_everything_nearest_within_tolerance_prefers_deeper_when_equally_near():
    city = cand(1, "C", 0, "/1/", dist=100.2, area=1000)
    dist_ = cand(2, "D1", 1, "/1/2/", dist=100.0, area=100)
    grid = cand(4, "G1", 2, "/1/2/4/", dist=100.5, area=5)
    d = decide([city, dist_, grid], tolerance_m=150, border_margin_m=25)
    assert d.office.code == "G1"
    assert d.reason is RouteReason.nearest
    assert d.distance_m == 100.5


def test_outside_nearest_wins_over_deeper_farther():
    d1 = cand(2, "D1", 1, "/1/2/", dist=20)
    g = cand(4, "G1", 2, "/1/3/4/", dist=120)
    d = decide([d1, g], tolerance_m=150, border_margin_m=25)
    assert d.office.code == "D1"
