"""What the bot says when it does not answer from a passage: an empty or truncated question, an
honest decline (the documents do not cover it, or it is one person's own case) naming the closest
documents and who to ask instead, and a refusal of a request to break the rules, citing the rules.
Also the note on how current the cited guidance is. Every fixed sentence a user may read is here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

from langchain_core.documents import Document

from bot.answer.citing import INJECTION, citation_for, compose
from bot.documents import Answer, Citation
from bot.ingest.sentences import Sentence, split_sentences

WHO_TO_ASK = (
    "For rules at a particular prison or service, ask your contact there (for example the "
    "activities or reducing reoffending team, the education provider, or the security "
    "department); for arts practice in criminal justice, the National Criminal Justice Arts "
    "Alliance (NCJAA) can point you to people with experience."
)
PERSONAL_CASE = (
    "The guidance is written for artists and arts organisations working in criminal justice "
    "settings, so it cannot advise on one person's own case. For questions about someone's "
    "sentence, appeal, transfer, visits or release, speak to a solicitor or a legal advice "
    "service, or contact the prison or probation service directly."
)
REFUSAL = (
    "I can't help with that. Taking items in or out, or passing on messages, for anyone in "
    "custody without the establishment's authorisation breaks its rules and can be a criminal "
    "offence. If someone has asked you to do this, say no and tell the establishment's security "
    "department straight away; if you have already done it, or find you have something you "
    "should not, report it to security at once."
)
EMPTY = ("Please type a question about working in prisons, young offender institutions, secure "
         "children's homes, probation or community settings.")
TRUNCATED = "Your question was very long, so only its first {n} characters were used."
LLM_DOWN = ("The language model could not be reached, so this answer was put together "
            "directly from the guidance.")


def _long_date(iso: str) -> str:
    import datetime as dt

    try:
        day = dt.date.fromisoformat(iso[:10])
    except ValueError:
        return iso
    return f"{day.day} {day.strftime('%B %Y')}"


def with_dates(text: str, citations: Sequence[Citation]) -> str:
    """Say how current the cited guidance is, so a reader can judge whether it may be stale."""
    dates = sorted({c.updated[:10] for c in citations if c.updated})
    if not dates:
        return text
    if len(dates) == 1:
        return f"{text}\n\n(The cited guidance was last updated on {_long_date(dates[0])}.)"
    return (f"{text}\n\n(The cited guidance was last updated between {_long_date(dates[0])} "
            f"and {_long_date(dates[-1])}.)")


class SelectsSentences(Protocol):
    """What :func:`refuse` needs of an answerer (:class:`bot.answer.extractive.ExtractiveAnswerer`)."""

    def select(self, question: str, docs: Sequence[Document], q_vec: Sequence[float] | None,
               prefer: re.Pattern | None = None) -> list[Sentence]: ...


def closest_sections(docs: Sequence[Document], n: int = 3) -> list[str]:
    """The closest passages' sections as a reader would look them up: '"heading" in "title"'
    (or the title alone when the passage has no heading of its own), each once."""
    named: list[str] = []
    for doc in docs:
        title = str(doc.metadata.get("title") or doc.metadata.get("source"))
        section = str(doc.metadata.get("section") or "").strip()
        name = f'"{section}" in "{title}"' if section and section != title else f'"{title}"'
        if name not in named:
            named.append(name)
    return named[:n]


def decline(question: str, docs: Sequence[Document], personal: bool = False,
            pointer: str | None = None) -> Answer:
    """The honest answer when the documents do not cover the question. With close passages it
    names their sections, and says they may not answer it rather than that they do not: the
    answer check declines some questions the library does answer (docs/quality.md), and the
    reader can then find the section themselves."""
    sections = closest_sections(docs) if not personal else []
    if personal:
        lead = PERSONAL_CASE
    elif sections:
        lead = ("The guidance documents do not seem to cover this question, so I can't give you "
                "a reliable answer from them.")
    else:
        lead = ("The guidance documents do not cover this question, so I can't give you a "
                "reliable answer from them.")
    closest = ""
    if sections:
        # "check them before you act": a grader read a decline beside a section that states a
        # rule (smart watches are banned) as saying that no rule exists (docs/quality.md,
        # session 12); the reader is sent to the section rather than away from it.
        closest = (f" The nearest sections are {_and(sections)}: they may not answer it, but "
                   "check them before you act." if len(sections) > 1 else
                   f" The nearest section is {sections[0]}: it may not answer it, but check it "
                   "before you act.")
    text = f"{lead}{closest} {pointer or WHO_TO_ASK}"
    quoted = [(d, _first_sentence(d.page_content)) for d in docs[:3]] if not personal else []
    citations = [citation_for(i + 1, d, q) for i, (d, q) in enumerate((d, q) for d, q in quoted
                                                                        if q)]
    return Answer(text=text, citations=citations, grounded=False)


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# An answer-first section opens with its verdict on its own heading ("Yes: any conviction that
# led to a prison sentence..."). Beside a different question the verdict would read as the answer
# to it: a decline quotes the sentence from after it (still the passage's own words), and an
# answer keeps it only when the question asks what the heading asks (bot.answer.extractive).
VERDICT = re.compile(r"^(yes|no|probably not|usually|not always|sometimes)\s*[:,]\s+(?=\S)",
                     re.I)


def _first_sentence(text: str) -> str:
    sentences = [s for s in split_sentences(text) if not INJECTION.search(s.text)]
    if not sentences:
        return ""
    first = sentences[0].text
    verdict = VERDICT.match(first)
    return first[verdict.end():] if verdict else first


# A sentence that states a rule or what to do about breaking one. A refusal quotes only these:
# a sentence that merely shares the request's subject ("scanners give full coverage of the
# closed estate") could help the very thing refused.
STATES_A_RULE = re.compile(r"\b(must not|must never|never|do not|don't|offence|prohibited|"
                            r"banned|not allowed|illegal|criminal|without (the |their |"
                            r"prior )?(written )?(permission|authoris\w*|approval)|report|"
                            r"say no|refuse)\b", re.I)


def refuse(answerer: SelectsSentences, question: str, docs: Sequence[Document],
           q_vec=None) -> Answer:
    """Refuse a request for help breaking the rules, and cite the rules themselves: ``docs``
    are the rules' passages (the pipeline searches the category's own rules document for what
    the category is about, not for the request's words), and only sentences that state a rule
    are quoted."""
    sentences = [s for s in answerer.select(question, docs, q_vec, prefer=STATES_A_RULE)
                 if STATES_A_RULE.search(s.clean)][:2]
    text = REFUSAL
    citations: list[Citation] = []
    if sentences:
        said, citations = compose(sentences, docs)
        text = f"{REFUSAL}\n\nWhat the guidance says: {said}"
    return Answer(text=text, citations=citations, grounded=True, refused=True)
