"""Questions about what a study found, and the sections of an evidence summary that answer them.

Every evidence summary has the same sections ("What was done", "Who took part", "How it was
evaluated", "What it found", "Limitations and strength of evidence"). A question about what a
study found, changed or showed is answered from its findings (the search adds that section,
:meth:`bot.search.retrieval.HybridRetriever.add_findings`, and the answerer prefers it); its
limitations answer only a question about how far the study can be trusted.
"""

from __future__ import annotations

import re
from collections.abc import Callable

ASKS_FINDINGS = re.compile(r"\b(find|found|findings?|results?|show(ed|n|s)?|conclu\w*|outcomes?|"
                           r"evidence|effect\w*|impact|work(s|ed)?|help(s|ed)?|improv\w*|reduc\w*|"
                           r"success\w*|benefit\w*|chang\w* (anything|things|lives|behaviou?r)|"
                           r"(been|was|were|ever) (independently |properly )?evaluated|"
                           r"drop(s|ped)?|fell|reoffend\w*|"
                           r"ma(k|d)e (a|any) (real )?difference)\b", re.I)
# A sentence that reports a result, for a question about results.
REPORTS_A_FINDING = re.compile(
    r"\b(found|finds|showed|shows|concluded|reported|improved|reduced|increased|decreased|"
    r"led to|no (significant |clear )?(difference|effect|change))\b", re.I)
_FINDINGS_SECTION = re.compile(r"found|finding|result|outcome|conclu|evidence", re.I)
# A question about how far a study can be trusted, not only what it found: its "Limitations and
# strength of evidence" section answers it; otherwise that section is not the findings.
_ASKS_STRENGTH = re.compile(r"\b(limitation\w*|strength|strong|weak\w*|robust|reliab\w*|"
                            r"rigou?r\w*|trust\w*|caveats?|how good|quality|bias\w*|sample size|"
                            r"convincing|proper(ly)?|independent(ly)?|measur\w*|prove|proof)\b",
                            re.I)
_STRENGTH_SECTION = re.compile(r"limitation|strength of evidence", re.I)


def asks_for_findings(question: str) -> bool:
    """Whether a question asks what something found, showed or changed."""
    return bool(ASKS_FINDINGS.search(question))


def findings_heading_for(question: str) -> Callable[[str], bool]:
    """Which section headings hold what a study found, for this question: its findings and
    conclusions, and its limitations and strength of evidence only when the question asks how
    far the study can be trusted."""
    strength = bool(_ASKS_STRENGTH.search(question))
    return lambda heading: bool(_FINDINGS_SECTION.search(heading)) and (
        strength or not _STRENGTH_SECTION.search(heading))
