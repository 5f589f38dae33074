"""What the guidance library is for, and how sure we are that it covers a question.

Three checks, cheapest first, decide whether the bot answers from the passages it found:
1. relevance: the best passage's cosine similarity, plus how much of the question's rarer
   vocabulary (IDF-weighted) those passages share; generic questions ("tell me a joke") fail here;
2. out-of-scope areas: questions that sound close to the library but belong to someone else
   (families visiting or sending money, prison officer and probation careers, sentencing law,
   therapy training, selling art, writing an artist statement, setting up a business, prison
   statistics) are recognised by their similarity to short descriptions of those areas (data:
   the policy file's ``out_of_scope_areas``), when that is at least their similarity to any
   passage, and by the areas check learnt from their exemplars (bot.policy.detector); sentencing
   law and prisons in other countries are also recognised by their words;
3. personal cases and harmful requests are handled earlier, in :mod:`bot.policy.detector`.
The thresholds were calibrated on the project's question set (see docs/quality.md).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from langchain_core.documents import Document

from bot.search.retrieval import SearchIndex, query_tokens, search_text

LAW_POINTER = "For legal questions, speak to a solicitor or a legal advice service."

MIN_DENSE = 0.26         # below this the best passage is unrelated, whatever else
MIN_COMBINED = 0.45      # dense + 0.5 x IDF-weighted term coverage of the top passages
AREA_MIN = 0.50          # similarity to an out-of-scope area description ...
AREA_MARGIN = 0.0        # ... that is at least the best passage's
# Sentencing law belongs to solicitors, except the law the library itself explains (the penalties
# for bringing items into a prison): a passage this close to the question means the library
# states it (0.80 for "the maximum penalty for bringing a phone into a prison", under 0.5 for
# questions about sentences for crimes).
OWN_LAW = 0.6

# The library covers England and Wales (and one Scottish study); questions about prisons in
# other countries are out of scope. Embeddings barely tell countries apart, so this is lexical:
# a country after "in" ("prisons in Norway"; not "from": a participant from Poland is in scope),
# a country or nationality before a justice institution ("Norwegian prisons", "the US system"),
# or a famous prison abroad. A nationality alone is not enough: "Indian classical dance" or
# "Polish prisoners" in an English prison is in scope, and "us" is a pronoun unless written "US".
_COUNTRIES = (
    r"usa|u\.s\.a?\.?|united states|america|canada|mexico|brazil|argentina|colombia|chile|peru|"
    r"venezuela|jamaica|trinidad|barbados|cuba|australia|new zealand|ireland|northern ireland|"
    r"france|germany|norway|sweden|denmark|finland|iceland|netherlands|holland|belgium|"
    r"luxembourg|switzerland|austria|spain|portugal|italy|greece|malta|cyprus|poland|czechia|"
    r"czech republic|slovakia|hungary|romania|bulgaria|serbia|croatia|albania|ukraine|russia|"
    r"belarus|lithuania|latvia|estonia|turkey|israel|palestine|egypt|morocco|algeria|tunisia|"
    r"nigeria|ghana|kenya|uganda|tanzania|ethiopia|somalia|sudan|zimbabwe|zambia|rwanda|"
    r"south africa|saudi arabia|dubai|the uae|united arab emirates|qatar|iran|iraq|syria|"
    r"lebanon|afghanistan|pakistan|india|bangladesh|sri lanka|nepal|china|hong kong|"
    r"taiwan|japan|south korea|north korea|korea|thailand|vietnam|cambodia|laos|myanmar|burma|"
    r"malaysia|singapore|indonesia|bali|philippines|europe|africa|asia|south america|"
    r"latin america|scandinavia|the caribbean")
_NATIONALITIES = (
    r"american|canadian|mexican|brazilian|argentinian|colombian|jamaican|australian|"
    r"irish|french|german|norwegian|swedish|danish|finnish|icelandic|dutch|belgian|swiss|"
    r"austrian|spanish|portuguese|italian|greek|polish|czech|hungarian|romanian|bulgarian|"
    r"ukrainian|russian|turkish|israeli|egyptian|moroccan|nigerian|ghanaian|kenyan|"
    r"south african|saudi|iranian|pakistani|indian|bangladeshi|chinese|japanese|korean|thai|"
    r"vietnamese|filipino|indonesian|malaysian|singaporean|european|scandinavian|nordic")
# Institutions, not people: "Polish prisoners" in an English prison are in scope.
_JUSTICE = (r"prisons?|jails?|penal|penitentiar\w*|correctional|corrections|justice|criminal|"
            r"courts?|probation|parole|custody|detention|youth (justice|custody|detention)|"
            r"system|government|law|police")
# A question about another country's prisons says what it is about somewhere.
_ABOUT_JUSTICE = re.compile(r"\b(prisons?|jails?|prisoners?|inmates?|locked up|custody|probation|"
                            r"justice|penal|criminal|offenders?|arts? (programmes?|projects?)|"
                            r"anything like|equivalents?|research|evidence|stud(y|ies))\b", re.I)
_ABROAD_PATTERNS = [
    re.compile(rf"\b(in|within|inside|than) (the )?({_COUNTRIES})\b(?! ?[-']?(style|inspired))",
               re.I),
    re.compile(rf"\b({_COUNTRIES})('s)? ({_JUSTICE})\b", re.I),
    re.compile(rf"\b({_NATIONALITIES}) ({_JUSTICE})\b", re.I),
    re.compile(r"\b(US|USA|U\.S\.A?\.?)\b"),   # capitals only: "us" is a pronoun (see below)
    re.compile(r"\b(san quentin|rikers|guantanamo|alcatraz|sing sing|halden|abroad|overseas|"
               r"other countries|another country|foreign (prisons?|jails?|countr\w+))\b", re.I),
]


# Criminal law itself (what sentence a crime gets) is for lawyers; embeddings put it close to the
# guidance's pages about probation and sentences, so it is recognised by its words.
LAW = re.compile(r"\b(sentencing (guidelines?|council|law|rules)|maximum (sentence|penalty) for|"
                 r"(what|which|how long a) (sentence|punishment|penalty) (do|does|would|will|can|"
                 r"could) (you|someone|people|a person) get for|how long (do|does|would|will) "
                 r"(you|someone|people|a person) get for|criminal (law|procedure) (on|for|about))\b",
                 re.I)


def is_abroad(question: str) -> bool:
    """Whether a question is about prisons or justice in another country: a place named with
    "in" ("his time in Jamaica") counts only when the question is about justice at all, and
    "US" in capitals only when the question is not typed all in capitals."""
    if not _ABOUT_JUSTICE.search(question):
        return False
    if question.isupper():
        question = question.lower()
    return any(p.search(question) for p in _ABROAD_PATTERNS)


ABROAD_POINTER = ("This library covers England and Wales (with one Scottish study); for other "
                  "countries, look for organisations and official sources there.")


@dataclass(frozen=True)
class Verdict:
    covered: bool
    reason: str                 # "ok", "unrelated", "abroad", "area", "weak"
    pointer: str | None = None  # where to ask instead, for out-of-scope areas
    dense: float = 0.0
    coverage: float = 0.0


class ScopeJudge:
    def __init__(self, embeddings, min_dense: float = MIN_DENSE,
                 min_combined: float = MIN_COMBINED,
                 areas: Sequence[tuple[str, str]] | None = None) -> None:
        """``areas``: (description, pointer) of each out-of-scope area; by default those of the
        policy file (bot/policy/requests.yaml), read on the first question."""
        self.embeddings = embeddings
        self.min_dense = min_dense
        self.min_combined = min_combined
        if areas is not None:
            self.areas = list(areas)
        self._areas: np.ndarray | None = None

    @cached_property
    def areas(self) -> list[tuple[str, str]]:
        from bot.policy.detector import load_policy

        # descriptions and pointers only: the exemplars (exemplars.yaml) are the detector's
        return [(a.description, a.pointer) for a in load_policy(more=None).areas]

    def _area_vectors(self) -> np.ndarray:
        if self._areas is None:
            self._areas = np.asarray(
                self.embeddings.embed_documents([a for a, _ in self.areas]), dtype=np.float32)
        return self._areas

    def coverage(self, question: str, docs: Sequence[Document], index: SearchIndex) -> float:
        """Share of the question's IDF mass found in the top three passages. Words the library
        never uses weigh most, so "San Quentin" or "lasagne" pull coverage down."""
        tokens = query_tokens(question, index.stemmer)
        if not tokens:
            return 0.0
        df = index.document_frequency
        n = len(index) + 1

        def idf(token: str) -> float:
            return math.log(n / (df.get(token, 0) + 0.5))

        seen: set[str] = set()
        for doc in docs[:3]:
            seen.update(query_tokens(search_text(doc.page_content, doc.metadata), index.stemmer))
        total = sum(idf(t) for t in tokens)
        return sum(idf(t) for t in tokens if t in seen) / total if total > 0 else 0.0

    def judge(self, question: str, q_vec: Sequence[float], docs: Sequence[Document],
              index: SearchIndex) -> Verdict:
        dense = max((d.metadata.get("dense_score") or -1.0 for d in docs), default=-1.0)
        if dense < self.min_dense:
            return Verdict(False, "unrelated", dense=dense)
        if is_abroad(question):
            return Verdict(False, "abroad", ABROAD_POINTER, dense=dense)
        if LAW.search(question) and dense < OWN_LAW:
            return Verdict(False, "area", LAW_POINTER, dense=dense)
        if self.areas:
            sims = self._area_vectors() @ np.asarray(q_vec, dtype=np.float32)
            best = int(np.argmax(sims))
            if sims[best] >= AREA_MIN and sims[best] >= dense + AREA_MARGIN:
                return Verdict(False, "area", self.areas[best][1], dense=dense)
        coverage = self.coverage(question, docs, index)
        if dense + 0.5 * coverage < self.min_combined:
            return Verdict(False, "weak", dense=dense, coverage=coverage)
        return Verdict(True, "ok", dense=dense, coverage=coverage)
