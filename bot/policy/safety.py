"""Text as the policy checks read it.

Requests for help breaking an establishment's rules, questions about one person's own case and
safeguarding situations are all recognised by the policy model (:mod:`bot.policy.detector`,
trained on the exemplars in ``requests.yaml`` and ``exemplars.yaml``), not by patterns here. The
pattern rules for harmful requests caught 9 of 160 requests in new wording (the second safety set)
while refusing honest questions such as "Should I give participants my phone number?"; those for
personal cases (removed in session 6) caught 46% of 220 personal cases written blind and declined
2.3% of the honest questions written with them, such as an artist's own old conviction
(docs/quality.md).
"""

from __future__ import annotations


def plain(text: str) -> str:
    """One space between words and straight apostrophes (phone keyboards type ’)."""
    return " ".join(text.replace("\u2019", "'").replace("\u2018", "'").split())
