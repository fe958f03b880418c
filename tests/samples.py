"""Valid answers for the sample forms, for tests and benchmarks."""

from __future__ import annotations

import uuid
from typing import Any


def worker_intake_answers(**changes: Any) -> dict[str, Any]:
    """A complete, valid worker_intake submission's answers (JSON-style)."""
    answers: dict[str, Any] = {
        "intake_date": "2026-11-20",
        "intake_place": "worksite",
        "consent": "yes",
        "full_name": "张建国",
        "phone": "13812345678",
        "gender": "male",
        "birth_date": "1985-06-01",
        "hometown_province": "henan",
        "hometown_city": "zhoukou",
        "children_with_me": "yes",
        "children": [
            {"child_age": 9, "in_school": "yes"},
            {"child_age": 5, "in_school": "no"},
        ],
        "sector": "construction",
        "employer_name": "某某建筑劳务有限公司",
        "contract_status": "none",
        "social_insurance": ["none"],
        "monthly_wage": 6500,
        "work_problems": ["wage_arrears", "no_contract"],
        "unpaid_amount": 18000,
        "months_unpaid": 3,
        "needs": ["legal_advice", "wage_recovery"],
        "referrals": ["our_lawyer"],
        "followup_consent": "yes",
        "contact_method": "phone",
    }
    answers.update(changes)
    return answers


def new_id() -> str:
    return str(uuid.uuid4())
