"""Everyday words for criminal justice things, mapped to the words the guidance uses.

Artists ask "can I ask the lads what they're in for?" or "will the screws search my bag?"; the
guidance says "offences" and "prison officers". Neither BM25 nor a small embedding model links
the two, so :func:`expand` appends the guidance's words to a question before it is searched
(the user still sees their own question). Each entry is a pattern for the colloquial phrase and
the words it stands for; entries only add words, never remove any.
"""

from __future__ import annotations

import re

from bot.policy.safety import plain

_F = re.I

COLLOQUIAL: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\bwhat (they|he|she|you|people|someone|somebody)( a|'| a)?re in for\b|"
                r"\bwhat (they|he|she|someone|somebody)('s| is| was|'re| are| were) in for\b|"
                r"\bwhat (they|he|she) did to (get|end up) (in|inside)\b", _F),
     "their offences"),
    (re.compile(r"\b(jail|jails|gaol|nick|clink)\b", _F), "prison"),
    (re.compile(r"\b(screws?|guards?|wardens?|kangas?)\b", _F), "prison officers"),
    (re.compile(r"\b(inmates?|convicts?|lags?|lifers?)\b", _F), "prisoners"),
    (re.compile(r"\b(lads|guys|fellas|blokes|the men|the women|the girls|the boys)\b", _F),
     "participants"),
    # Not "his kids": a participant's own children are not young people in custody.
    (re.compile(r"(?<!his )(?<!her )(?<!their )(?<!my )(?<!our )(?<!your )"
                r"\b(kids|teenagers?|teens|under[- ]?18s?|youngsters|juveniles?|minors?)\b", _F),
     "children and young people"),
    (re.compile(r"\b(banged up|locked up|doing time|did time|done time|served time|been inside)\b",
                _F), "in prison"),
    (re.compile(r"\b(ex-?cons?|ex-?offenders?|ex-?prisoners?|ex-?inmates?)\b", _F),
     "people with lived experience of prison"),
    (re.compile(r"\b(once|when|after) (they|he|she|people|theyre|hes|shes)('re|'s| are| is| get| gets| have "
                r"been| has been)? (out|released|let out)\b(?! of)", _F), "after release"),
    (re.compile(r"\b(facebook|instagram|snapchat|tiktok|whatsapp|twitter|linkedin|friend "
                r"request|follow (me|them))\b", _F), "social media contact"),
    (re.compile(r"\b(drained|burnt out|burned out|burnout|exhausted|knackered|wiped out)\b", _F),
     "looking after yourself wellbeing"),
    (re.compile(r"\b(kick(s|ed)? off|kicking off|fights?|punch\w*|attack\w*|gets? violent|"
                r"aggressive)\b", _F), "incident violence personal safety"),
    (re.compile(r"\b(mobiles|mobile phones?|(my|a|your|their|his|her) mobile(?! (library|"
                r"studio|unit|classroom|stage|van|gallery|exhibition|workshop))|cell ?phones?|"
                r"smartphones?|iphones?|smart ?watch(es)?)\b", _F), "phone"),
    # "Cat A" to "Cat D", or lower case when a prison is near ("a cat c jail"); not "my cat".
    (re.compile(r"\b(Cat|CAT|Category|category) [A-D]\b|\b(cat|category) [a-dA-D]\b(?=.{0,40}"
                r"\b(prisons?|jails?|nick|establishments?|open|security|men'?s)\b)"),
     "security category"),
    (re.compile(r"\b(crb|police check|background check)\b", _F), "security vetting DBS"),
    (re.compile(r"\b(gig|paid work|my rate|day rate|how much (should|do|can) i charge)\b", _F),
     "fees"),
]


def expand(question: str) -> str:
    """The question followed by the guidance's words for any colloquial phrase in it."""
    question = plain(question)
    extra: list[str] = []
    for pattern, words in COLLOQUIAL:
        if pattern.search(question) and words not in extra:
            extra.append(words)
    return f"{question} ({'; '.join(extra)})" if extra else question


def without_slang(query: str) -> str:
    """An expanded query with its colloquial phrases taken out, leaving the guidance's words that
    :func:`expand` appended for them: what the question asks, in the library's words. The answer
    check (bot.answer.deciding) measures how much of the question a passage covers on this, so
    that "lads" is not counted as a word the passage fails to mention when it says
    "participants"."""
    for pattern, _ in COLLOQUIAL:
        query = pattern.sub(" ", query)
    return query
