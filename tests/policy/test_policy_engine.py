"""The terms engine on record classes: decisions, paths, time, contracts, parts, waivers."""

from __future__ import annotations

import json

import pytest

from provenance.policy.classes import ClassTally, RecordClass, group_records
from provenance.policy.engine import evaluate
from provenance.policy.model import Waiver
from provenance.policy.report import (
    MISSING_PROVENANCE,
    UNKNOWN_SOURCE,
    MissingProvenance,
    PolicyReport,
)
from tests.policy.builders import intent, library, manifest, org_policies, part

CONTOSO = "contoso/api-terms@2024-01-01"


def judge(*manifests: object, **kwargs: object) -> PolicyReport:
    plan = kwargs.pop("plan", intent())
    return evaluate(group_records(manifests), library(), plan, **kwargs)  # type: ignore[arg-type]


def outcomes(report: PolicyReport) -> dict[str, str]:
    return {d.terms: d.outcome for d in report.decisions}


# -- time ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("generated_at", "terms", "outcome"),
    [
        ("2024-05-31T23:59:59Z", "tailspin/model-licence@2024-01-01", "deny"),
        ("2024-06-01T00:00:00Z", "tailspin/model-licence@2024-06-01", "allow"),
        ("2024-06-01T01:00:00+02:00", "tailspin/model-licence@2024-01-01", "deny"),
    ],
)
def test_terms_in_force_when_generated(generated_at: str, terms: str, outcome: str) -> None:
    report = judge(manifest("r1", part("tailspin", "tailspin-13b", generated_at=generated_at)))
    assert outcomes(report) == {terms: outcome}


def test_same_records_on_either_side_of_a_version_boundary() -> None:
    before = manifest("r1", part("tailspin", "tailspin-13b", generated_at="2024-05-31"))
    after = manifest("r2", part("tailspin", "tailspin-13b", generated_at="2024-06-01"))
    report = judge(before, after)
    assert report.class_count == 2
    new = report.decision("tailspin/model-licence@2024-06-01")
    old = report.decision("tailspin/model-licence@2024-01-01")
    assert old is not None and new is not None
    assert (old.outcome, old.sample_record_ids) == ("deny", ("r1",))
    assert (new.outcome, new.sample_record_ids) == ("allow", ("r2",))
    assert [o.text for o in new.obligations] == ["Improved using Tailspin"]


def test_explicit_terms_id_overrides_the_date() -> None:
    pinned = part(
        "tailspin",
        "tailspin-13b",
        generated_at="2024-09-01",
        terms="tailspin/model-licence@2024-01-01",
    )
    assert outcomes(judge(manifest("r1", pinned))) == {"tailspin/model-licence@2024-01-01": "deny"}


def test_unknown_generation_date_judges_every_version() -> None:
    report = judge(manifest("r1", part("tailspin", "tailspin-13b", generated_at=None)))
    assert outcomes(report) == {
        "tailspin/model-licence@2024-01-01": "deny",
        "tailspin/model-licence@2024-06-01": "allow",
    }
    denial = report.findings[0]
    assert "class.generated_at" in denial.settles
    assert "every version" in denial.reason


def test_no_version_in_force_is_review() -> None:
    report = judge(manifest("r1", part("tailspin", "tailspin-13b", generated_at="2023-06-01")))
    assert outcomes(report) == {"tailspin/model-licence": "review"}
    assert report.findings[0].rule == "no-version-in-force"


# -- facts, contracts, confidence -----------------------------------------------------------------


def test_unknown_competitors_give_review_naming_the_fact() -> None:
    m = manifest("r1", part("contoso", "contoso-large-2", service="api"))
    report = judge(m, plan=intent(competes_with=None))
    decision = report.decision(CONTOSO)
    assert decision is not None and decision.outcome == "review"
    assert decision.findings[0].settles == ("intent.competes_with",)
    assert outcomes(judge(m, plan=intent(competes_with=("contoso",)))) == {CONTOSO: "deny"}
    assert outcomes(judge(m, plan=intent(competes_with=("google",)))) == {CONTOSO: "allow"}


def test_contract_binds_only_the_generating_organisation() -> None:
    plan = intent(competes_with=("contoso",))
    theirs = manifest("r1", part("contoso", "contoso-large-2", service="api"), organization="other")
    report = judge(theirs, plan=plan)
    assert outcomes(report) == {CONTOSO: "allow"}
    assert report.findings[0].reason.startswith("binds only other")
    unknown = manifest("r2", part("contoso", "contoso-large-2", service="api"), organization=None)
    report = judge(unknown, plan=plan)
    assert outcomes(report) == {CONTOSO: "review"}
    assert "class.organization" in report.findings[0].settles


def test_low_confidence_document_never_allows() -> None:
    m = manifest("r1", part("rumour", "rumour-1", service="api"))
    report = judge(m)
    assert outcomes(report) == {"rumour/model-terms@2024-01-01": "review"}
    secondary = judge(m, plan=intent(competes_with=("rumour",)))
    assert "secondary source" in secondary.findings[0].reason


# -- obligations ---------------------------------------------------------------------------------


def test_visible_violation_of_name_prefix_is_a_denial() -> None:
    m = manifest("r1", part("northwind", "northwind/nw-70b-instruct"))
    report = judge(m, plan=intent(distribution="open-weights"))
    decision = report.decision("northwind/community-licence@2024-07-23")
    assert decision is not None and decision.outcome == "deny"
    prefix = next(o for o in decision.obligations if o.kind == "model-name-prefix")
    assert prefix.status == "violated"
    assert "does not begin with 'Northwind'" in (prefix.note or "")
    named = judge(m, plan=intent(distribution="api", target_name="acme/northwind-chat"))
    kept = named.decision("northwind/community-licence@2024-07-23")
    assert kept is not None and kept.outcome == "allow"
    assert {o.status for o in kept.obligations} == {"due"}
    assert {o.kind for o in named.obligations} == {"model-name-prefix", "attribution"}


# -- records written by several models -------------------------------------------------------------


def preference_pair() -> object:
    return manifest(
        "pair-1",
        part("zephyrus", "zephyrus-7b", pointer="/chosen"),
        part("tailspin", "tailspin-13b", pointer="/rejected", generated_at="2024-09-01"),
        part("contoso", "contoso-large-2", service="api", pointer="/score", role="judgement"),
    )


def test_every_part_is_judged_and_the_path_names_the_part() -> None:
    report = judge(preference_pair(), plan=intent(competes_with=("contoso",)))
    assert report.outcome == "deny"
    assert outcomes(report) == {
        CONTOSO: "deny",
        "tailspin/model-licence@2024-06-01": "allow",
        "zephyrus/open-licence@2023-01-01": "allow",
    }
    denial = report.findings[0]
    assert denial.path == ("/score ← model contoso-large-2 ← contoso/api-terms@2024-01-01 §2(c)")
    assert denial.clause is not None and denial.clause.citation.endswith("#2c")
    assert denial.sample_record_ids == ("pair-1",)


def test_a_clause_can_depend_on_the_role_of_the_part() -> None:
    plan = intent(target_kind="reward-model")
    judged = judge(preference_pair(), plan=plan)
    assert outcomes(judged)[CONTOSO] == "deny"
    assert judged.findings[0].rule == "no-reward-models-from-judgements"
    answered = manifest("r1", part("contoso", "contoso-large-2", service="api", role="response"))
    assert outcomes(judge(answered, plan=plan)) == {CONTOSO: "allow"}


# -- channels and unknown models ------------------------------------------------------------------


def test_channels() -> None:
    unknown_service = manifest("r1", part("contoso", "contoso-large-2", service=None))
    assert outcomes(judge(unknown_service, plan=intent(competes_with=("contoso",)))) == {
        CONTOSO: "deny"
    }
    third_party = manifest("r2", part("fabrikam", "fabrikam-7b", service="some-host"))
    assert outcomes(judge(third_party)) == {"fabrikam/open-model-licence@2024-04-01": "deny"}
    no_terms = manifest("r3", part("contoso", "contoso-large-2", service="self-hosted"))
    report = judge(no_terms)
    assert outcomes(report) == {UNKNOWN_SOURCE: "review"}
    assert report.findings[0].rule == "no-channel-terms"


def test_unknown_model_is_review_never_allow() -> None:
    report = judge(manifest("r1", part("mystery", "mystery-1")))
    assert report.outcome == "review"
    finding = report.findings[0]
    assert (finding.terms, finding.rule) == (UNKNOWN_SOURCE, "unknown-model")
    assert finding.path == "record ← model mystery-1"


def test_catalog_matches_model_returned_first() -> None:
    m = manifest("r1", part("x", "alias-of-something", model_returned="zephyrus-7b-2024"))
    assert outcomes(judge(m)) == {"zephyrus/open-licence@2023-01-01": "allow"}


# -- datasets named as parents -------------------------------------------------------------------


def test_parent_dataset_brings_its_licence_and_generators() -> None:
    m = manifest("r1", part("zephyrus", "zephyrus-7b", role="rewrite"), datasets=("tiny",))
    report = judge(m, plan=intent(competes_with=("contoso",)))
    assert outcomes(report) == {
        "licences/cc-by-nc-4.0@2013-11-25": "deny",
        CONTOSO: "allow",
        "zephyrus/open-licence@2023-01-01": "allow",
    }
    licence = report.decision("licences/cc-by-nc-4.0@2013-11-25")
    assert licence is not None
    assert licence.findings[0].path == (
        "record ← dataset tiny-instruct ← licences/cc-by-nc-4.0@2013-11-25 §2(a)(1)"
    )
    contract = report.decision(CONTOSO)
    assert contract is not None
    assert contract.findings[0].reason.startswith("binds only stanfurd")


def test_unknown_parent_dataset_is_review() -> None:
    m = manifest("r1", part("zephyrus", "zephyrus-7b"), datasets=("who-knows",))
    report = judge(m)
    assert outcomes(report)[UNKNOWN_SOURCE] == "review"
    assert report.decision(UNKNOWN_SOURCE).findings[0].rule == "unknown-dataset"  # type: ignore[union-attr]


# -- missing provenance, org policies, waivers -----------------------------------------------------


def test_missing_provenance_is_a_denial() -> None:
    m = manifest("r1", part("zephyrus", "zephyrus-7b"))
    report = judge(m, missing=[MissingProvenance("missing", 3, ("x1", "x2", "x3"))])
    assert report.outcome == "deny"
    assert report.record_count == 4
    decision = report.decision(MISSING_PROVENANCE)
    assert decision is not None
    assert (decision.record_count, decision.findings[0].rule) == (3, "missing")
    assert judge(missing=[MissingProvenance("bad-signature", 1)]).outcome == "deny"


def test_org_policy_applies_to_every_class() -> None:
    report = judge(preference_pair(), org_policies=org_policies())
    decision = report.decision("org/no-contoso-data@2024-01-01")
    assert decision is not None and decision.outcome == "deny"
    assert decision.findings[0].path.startswith("/score ← model contoso-large-2 ← org/")
    assert report.decision(CONTOSO).outcome == "allow"  # type: ignore[union-attr]
    evaluation = judge(
        preference_pair(), org_policies=org_policies(), plan=intent(activity="evaluate")
    )
    assert outcomes(evaluation)["org/no-contoso-data@2024-01-01"] == "allow"


def waiver(expires: str, clause: str | None = "no-competing-models") -> Waiver:
    return Waiver.from_dict(
        {
            "terms": CONTOSO,
            "clause": clause,
            "reason": "LR-112",
            "owner": "jane",
            "expires": expires,
        }
    )


def test_valid_waiver_applies_and_is_recorded() -> None:
    plan = intent(competes_with=("contoso",))
    report = judge(preference_pair(), plan=plan, waivers=[waiver("2026-01-31")])
    assert outcomes(report)[CONTOSO] == "allow"
    finding = report.decision(CONTOSO).findings[0]  # type: ignore[union-attr]
    assert (finding.original_outcome, finding.waived_by) == ("deny", waiver("2026-01-31"))
    assert [(w.state, w.matched) for w in report.waivers] == [("applied", 1)]


def test_expired_waiver_does_not_apply_and_is_reported() -> None:
    plan = intent(competes_with=("contoso",))
    report = judge(preference_pair(), plan=plan, waivers=[waiver("2025-01-09")])
    assert outcomes(report)[CONTOSO] == "deny"
    assert [(w.state, w.matched) for w in report.waivers] == [("expired", 1)]
    on_the_day = judge(preference_pair(), plan=plan, waivers=[waiver("2025-01-10")])
    assert outcomes(on_the_day)[CONTOSO] == "allow"


def test_waiver_for_another_clause_is_unused() -> None:
    plan = intent(competes_with=("contoso",))
    report = judge(preference_pair(), plan=plan, waivers=[waiver("2026-01-31", "other")])
    assert outcomes(report)[CONTOSO] == "deny"
    assert [w.state for w in report.waivers] == ["unused"]


def test_missing_provenance_can_be_waived_knowingly() -> None:
    accepted = Waiver.from_dict(
        {
            "terms": MISSING_PROVENANCE,
            "clause": "missing",
            "reason": "human-written seed set",
            "owner": "jane",
            "expires": "2026-01-01",
        }
    )
    report = judge(missing=[MissingProvenance("missing", 2)], waivers=[accepted])
    assert report.outcome == "allow"
    assert judge(missing=[MissingProvenance("bad-signature", 2)], waivers=[accepted]).outcome == (
        "deny"
    )


# -- classes, report --------------------------------------------------------------------------------


def test_classes_group_records_and_keep_five_samples() -> None:
    tally = ClassTally()
    for i in range(1000):
        model = "zephyrus-7b" if i % 2 else "tailspin-13b"
        tally.add(manifest(f"r{i:04d}", part(model.split("-")[0], model)))
    classes = tally.classes()
    assert [c.record_count for c in classes] == [500, 500]
    assert all(len(c.sample_record_ids) == 5 for c in classes)
    report = evaluate(classes, library(), intent())
    assert report.record_count == 1000
    assert {d.terms: d.record_count for d in report.decisions} == {
        "tailspin/model-licence@2024-06-01": 500,
        "zephyrus/open-licence@2023-01-01": 500,
    }


def test_tally_merge_is_order_free() -> None:
    ms = [manifest(f"r{i}", part("zephyrus", "zephyrus-7b")) for i in range(8)]
    a, b = ClassTally(), ClassTally()
    for m in ms[:3]:
        a.add(m)
    for m in ms[3:]:
        b.add(m)
    assert a.merge(b).classes() == b.merge(a).classes() == group_records(ms)
    only = group_records(ms)[0]
    assert RecordClass.from_dict(only.to_dict()) == only


def test_report_is_plain_data() -> None:
    report = judge(
        preference_pair(),
        plan=intent(competes_with=("contoso",)),
        missing=[MissingProvenance("missing", 1)],
    )
    data = json.loads(json.dumps(report.to_dict()))
    assert data["outcome"] == "deny"
    assert data["decisions"][0]["findings"][0]["path"]
    assert report.verdict() == "fail"
    assert judge(manifest("r1", part("rumour", "rumour-1", service="api"))).verdict() == "pass"
    assert (
        judge(manifest("r1", part("rumour", "rumour-1", service="api"))).verdict("review") == "fail"
    )
    with pytest.raises(ValueError, match="fail_on"):
        report.verdict("allow")  # type: ignore[arg-type]
