"""Turning retrieved passages into an ``Answer``: extractive by default, with honest refusals.

The extractive answerer needs no LLM. It splits the retrieved passages into sentences, scores each
against the question (embedding similarity plus shared words), and answers from the section that
answers: the passage holding the best sentence, led by its opening sentences (the guidance is
written answer-first) and its best one, as a short answer with [n] markers; each citation quotes
the chosen sentences verbatim from the passage. When the passages are too far from the question,
or the chosen sentences hold too few of its words, the answer says plainly that the guidance does
not cover it, names the closest documents, and suggests who to ask instead
(:mod:`bot.answer.replies`); quoting and citing are in :mod:`bot.answer.citing`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

import numpy as np
from langchain_core.documents import Document

from bot.answer.citing import _stems, compose, section_key
from bot.answer.findings import REPORTS_A_FINDING, asks_for_findings, findings_heading_for
from bot.answer.replies import VERDICT, decline, with_dates
from bot.answer.usable import usable
from bot.documents import Answer
from bot.ingest.indexer import cached_vectors
from bot.ingest.sentences import LIST_MARK, Sentence, clean_markdown, split_sentences

MAX_SENTENCES = 5
MAX_PER_PASSAGE = 2
# Answering from the section that answers (see ExtractiveAnswerer._section_first)
LEAD_SENTENCES = 4          # opening sentences to lead with: guidance is written answer-first
MIN_QUESTION_COVERAGE = 0.3  # share of the question's words an answer (with its headings) holds
# Another section's best sentence joins when it matches nearly as well as this one's best: with
# 4 lead sentences and this margin, the key fact reached more answers on all three question sets
# than 3 sentences and +0.05 (docs/quality.md, session 4); answers grew from about 480 to 570
# characters.
SECOND_SECTION_MARGIN = -0.03
# The best section of another heading, when its best sentence scores within this gap of the
# chosen section's, adds its opening sentences (a second paragraph, cited): the passage holding
# the key fact was the best or second-best section for 0.68 of covered questions against 0.53
# for the best alone. Measured on the tune sets (docs/quality.md, session 5): two sentences
# within 0.15 raised the key fact from 0.50 to 0.56 (questions), 0.40 to 0.42 (fresh) and 0.55
# to 0.61 (independent tune); three sentences added a little more at the cost of length. It
# joins only when its opening holds as much of the question's words as an answer must, and is
# said as related guidance ("Also relevant: ...", bot.answer.citing.compose).
SECOND_SECTION_LEAD = 2
SECOND_SECTION_GAP = 0.15
# ... and not when its opening says again what the answer says (a guide's definition and the
# glossary's): cosine of sentence vectors at or above this. On the tune sets it removed 28 of 310
# such paragraphs and no key fact but one of the inventory's.
RESTATES = 0.8
# The section an answer comes from is the one whose best sentence plus this share of its heading
# match (bot.search.retrieval: the heading or staff's other phrasings of it, whichever is closer)
# scores highest. Session 12, on the question sets of scripts/calibrate_answers.py (2,528 questions
# reaching the answerer): the answer held the key fact for 1,238 against 1,223 with the best
# sentence alone (0.1: 1,227; 0.2: 1,231; 0.7 and 1.2: 1,240), and with the answer check 944 right
# and 322 wrong answers against 925 and 320 (more right answers in ten of the seventeen sets,
# fewer in one).
HEADING_IN_CHOICE = 0.4
# A section whose heading all but restates the question leads the answer (_restated_heading).
RESTATED_HEADING = 0.8
RESTATED_MARGIN = 0.1

_ASKS_READING = re.compile(r"\b(read|reading|books?|reports?|guides?|publications?|research|"
                           r"studies|study|evidence|literature|articles?)\b", re.I)
# A publication: a quoted title of four words or more, or a year in brackets.
_CITES_A_WORK = re.compile(r"[\"\u201c](?:[^\"\u201d\s]+\s+){3,}[^\"\u201d]*[\"\u201d]|\(\d{4}\)")
_LEANS_BACK = re.compile(r"(in other words|this|these|that|those|it|they|however|also|so|but)\b",
                         re.I)


class ExtractiveAnswerer:
    """Picks the sentences of the retrieved passages that best answer the question."""

    backend = "extractive"

    def __init__(self, embeddings, cache=None) -> None:
        self.embeddings = embeddings
        self.cache = cache  # an EmbeddingCache: sentence vectors stored when the index was built

    def sentence_vectors(self, texts: list[str]) -> np.ndarray:
        """The sentences' vectors: looked up in the cache (the indexer stores every passage's
        sentences there), embedding only those it lacks, which are then stored too."""
        return cached_vectors(self.embeddings, self.cache, texts)

    def select(self, question: str, docs: Sequence[Document], q_vec: Sequence[float] | None,
               prefer: re.Pattern | None = None) -> list[Sentence]:
        candidates = [s for i, d in enumerate(docs)
                      for s in split_sentences(d.page_content, i) if usable(s, d)]
        if not candidates:
            return []
        if q_vec is None:
            q_vec = self.embeddings.embed_query(question)
        vecs = self.sentence_vectors([s.clean for s in candidates])
        cos = vecs @ np.asarray(q_vec, dtype=np.float32)
        q_terms = _stems(question)
        wants_findings = asks_for_findings(question)
        findings_heading = findings_heading_for(question)
        wants_reading = bool(_ASKS_READING.search(question))
        scores = []
        for s, c in zip(candidates, cos):
            overlap = len(q_terms & _stems(s.clean)) / len(q_terms) if q_terms else 0.0
            rank_bonus = 0.04 * (len(docs) - s.passage) / len(docs)
            # How well the whole passage matches counts too: a sentence that shares words with
            # the question inside an off-topic passage is rarely the answer.
            passage = float(docs[s.passage].metadata.get("dense_score") or 0.0)
            score = 0.6 * float(c) + 0.25 * overlap + 0.25 * passage + rank_bonus
            if _CITES_A_WORK.search(s.clean) and not wants_reading:
                score -= 0.2    # a reference to a publication, not guidance
            section = str(docs[s.passage].metadata.get("section") or "")
            if wants_findings and findings_heading(section):
                score += 0.08
            if wants_findings and REPORTS_A_FINDING.search(s.clean):
                score += 0.1    # it reports a result: what the question asks for
            if s.clean.endswith("?"):
                score -= 0.25   # a question in the text is not an answer to one
            elif s.clean.endswith(":") and s.end == len(docs[s.passage].page_content.rstrip()):
                score -= 0.25   # introduces a list that is not in this passage
            if s.clean[:1].islower() or _LEANS_BACK.match(s.clean):
                score -= 0.05   # a fragment, or leans on a sentence we do not show
            if prefer is not None and prefer.search(s.clean):
                score += 0.15
            scores.append(score)
        if prefer is not None:  # a refusal quotes the rules, wherever they are
            return self._greedy(candidates, scores, docs)
        return [_verdict_fits(question, s, docs)
                for s in self._section_first(candidates, scores, docs, wants_findings, question,
                                             vecs)]

    def _greedy(self, candidates: list[Sentence], scores: list[float],
                docs: Sequence[Document]) -> list[Sentence]:
        """The best-scoring sentences, wherever they are."""
        order = sorted(range(len(candidates)), key=lambda i: -scores[i])
        best = scores[order[0]]
        chosen: list[int] = []
        per_passage: dict[int, int] = {}
        for i in order:
            s = candidates[i]
            if len(chosen) >= MAX_SENTENCES or scores[i] < best - 0.12:
                break
            if chosen and s.passage != candidates[chosen[0]].passage and scores[i] < best - 0.06:
                continue  # another passage must come close to the best to join the answer
            if per_passage.get(s.passage, 0) >= MAX_PER_PASSAGE:
                continue
            terms = _stems(s.clean)
            if any(_jaccard(terms, _stems(candidates[j].clean)) > 0.6 for j in chosen):
                continue
            chosen.append(i)
            per_passage[s.passage] = per_passage.get(s.passage, 0) + 1
        picked = [_with_list(candidates[i], docs) for i in chosen]
        return picked

    def _section_first(self, candidates: list[Sentence], scores: list[float],
                       docs: Sequence[Document], wants_findings: bool = False,
                       question: str = "", vectors: np.ndarray | None = None
                       ) -> list[Sentence]:
        """Answer from the section that answers: choose the passage whose best sentence matches
        the question best, lead with its opening sentences in their order, add
        its best sentence if the opening does not hold it, and take a sentence from another
        passage only when it matches the question better than anything in the chosen one."""
        by_passage: dict[int, list[int]] = {}
        for i, sentence in enumerate(candidates):
            by_passage.setdefault(sentence.passage, []).append(i)
        best_in = {p: max(scores[i] for i in idx) for p, idx in by_passage.items()}
        # Measured on the question sets: the passage holding the best sentence holds the key
        # fact more often than the one whose heading, opening sentence or retrieval score
        # matches best (docs/quality.md); with its section's heading match added (the heading
        # or staff's other phrasings of it, HEADING_IN_CHOICE) more often still (session 12).
        chosen_passage = _restated_heading(max(by_passage, key=lambda p: best_in[p] + (
            HEADING_IN_CHOICE * float(docs[p].metadata.get("heading_score") or 0.0))),
                                           by_passage, docs)
        if wants_findings:  # "what did it find" is answered from that study's findings
            source = docs[chosen_passage].metadata.get("source")
            is_findings = findings_heading_for(question)
            findings = [p for p in by_passage if docs[p].metadata.get("source") == source
                        and is_findings(str(docs[p].metadata.get("section") or ""))]
            if findings and chosen_passage not in findings:
                chosen_passage = max(findings, key=lambda p: best_in[p])
        # The section is the unit: when retrieval returned several passages of the chosen
        # passage's section, they are read as one, from the section's opening.
        section = [p for p in sorted(by_passage, key=lambda p: int(
            docs[p].metadata.get("position") or 0)) if section_key(docs[p]) ==
            section_key(docs[chosen_passage])]
        order = {p: n for n, p in enumerate(section)}
        members = sorted((i for p in section for i in by_passage[p]),
                         key=lambda i: (order[candidates[i].passage], candidates[i].start))
        chosen = members[:LEAD_SENTENCES]
        top = max(members, key=lambda i: scores[i])
        if top not in chosen:
            chosen.append(top)
        others = sorted((i for i in range(len(candidates)) if i not in members),
                        key=lambda i: -scores[i])
        for i in others[:1]:
            if scores[i] > best_in[chosen_passage] + SECOND_SECTION_MARGIN:
                chosen.append(i)
        second = _second_section(chosen_passage, best_in, docs)
        if second is not None:
            lead = sorted(by_passage[second], key=lambda i: candidates[i].start)
            lead = lead[:SECOND_SECTION_LEAD]
            # it must answer the question on its own as well as an answer must
            if question and coverage(question, [candidates[i] for i in lead],
                                     docs) < MIN_QUESTION_COVERAGE:
                second = None
            elif vectors is not None and lead and float(np.max(
                    vectors[chosen] @ vectors[lead[0]])) >= RESTATES:
                second = None  # it opens by saying again what the answer already says
            else:
                chosen.extend(i for i in lead if i not in chosen)
        kept: list[int] = []
        for i in chosen:
            terms = _stems(candidates[i].clean)
            if len(kept) < MAX_SENTENCES + SECOND_SECTION_LEAD * (second is not None) and not any(
                    _says_again(terms, _stems(candidates[j].clean)) for j in kept):
                kept.append(i)
        kept.sort(key=lambda i: (order.get(candidates[i].passage, len(order)),
                                 candidates[i].passage, candidates[i].start))
        picked: list[Sentence] = []
        for sentence in (_with_list(candidates[i], docs) for i in kept):
            # a list brought in by its lead-in already holds the items: never say them twice
            if not any(p.passage == sentence.passage and p.start <= sentence.start
                       and sentence.end <= p.end for p in picked):
                picked.append(sentence)
        return _best_second(picked, candidates[top])

    def answer(self, question: str, docs: Sequence[Document], q_vec=None,
               require_coverage: bool = True,
               judge: Callable[[Sequence[Sentence]], bool] | None = None) -> Answer:
        """``judge`` decides whether the chosen sentences answer the question (the pipeline
        passes its answer check, bot.answer.deciding; without one, the word-coverage rule).
        ``require_coverage=False`` answers even when they match weakly: for a safeguarding
        situation, told in the asker's own words, the guidance on what to do is wanted whatever
        the words."""
        sentences = self.select(question, docs, q_vec)
        fits = judge or (lambda chosen: answers_question(question, chosen, docs))
        if not sentences or (require_coverage and not fits(sentences)):
            return decline(question, lead_first(docs, sentences))
        text, citations = compose(sentences, docs, mark_related=True, in_given_order=True)
        return Answer(text=with_dates(text, citations), citations=citations, grounded=True,
                      backend=self.backend)


def lead_first(docs: Sequence[Document], sentences: Sequence[Sentence]) -> list[Document]:
    """The passages with the one the answer would have led with first: a decline names and
    quotes the closest sections in this order. The check declines some questions whose answer
    that section holds (a grader found 13 of 15 declined covered questions named a section that
    very likely answers them, docs/quality.md session 11), and a guide's section opens with its
    answer, so the reader sees it first, said as what it is: the nearest section, which may not
    answer the question."""
    if not sentences:
        return list(docs)
    lead = sentences[0].passage
    return [docs[lead]] + [d for i, d in enumerate(docs) if i != lead]


def answers_question(question: str, sentences: Sequence[Sentence],
                     docs: Sequence[Document]) -> bool:
    """Whether the chosen sentences really answer the question: enough of the question's own
    words must appear in them or in their section's headings. Sentences that share only a word
    or two with the question (a question about dress answered with art-materials sentences)
    are a confident wrong answer, and an honest decline is better. Judged on the section the
    answer leads with: another section's opening joins an answer (SECOND_SECTION_LEAD) but
    never turns a decline into an answer. Calibrated on the question sets' covered and
    not-in-library questions together (docs/quality.md)."""
    lead = sentences[0].passage if sentences else None
    return coverage(question, [s for s in sentences if s.passage == lead],
                    docs) >= MIN_QUESTION_COVERAGE


def coverage(question: str, sentences: Sequence[Sentence], docs: Sequence[Document]) -> float:
    """The share of the question's words that the sentences or their sections' headings hold."""
    asked = _stems(question)
    if not asked:
        return 1.0
    said: set[str] = set()
    for s in sentences:
        meta = docs[s.passage].metadata
        said |= _stems(s.clean) | _stems(str(meta.get("section_path") or meta.get("section") or ""))
    return len(asked & said) / len(asked)


# A section written answer-first opens with a verdict on its own heading ("No: a freelance artist
# cannot apply for vetting"). Said to a question that asks something else ("can a prison ban me
# from coming back?"), the verdict reads as the answer to it and misleads; it is kept only when
# the question holds most of the heading's words, and the rest of the sentence is said as it is
# (the pattern: bot.answer.replies.VERDICT).
VERDICT_HEADING_MATCH = 0.6


# "How many...?", "Why...?": a question that a yes or a no cannot answer.
_OPEN_QUESTION = re.compile(r"(what|which|who|whom|whose|when|where|why|how)\b", re.I)


def _asks_yes_or_no(question: str) -> bool:
    """Whether the question (its last sentence that asks something) can be answered yes or no."""
    asked = [part.strip() for part in re.split(r"(?<=[.?!])\s+", question.strip()) if part.strip()]
    last = next((part for part in reversed(asked) if part.endswith("?")), asked[-1] if asked else "")
    return not _OPEN_QUESTION.match(last)


def _verdict_fits(question: str, sentence: Sentence, docs: Sequence[Document]) -> Sentence:
    verdict = VERDICT.match(sentence.clean)
    if verdict is None:
        return sentence
    heading = _stems(str(docs[sentence.passage].metadata.get("section") or ""))
    if (heading and _asks_yes_or_no(question)
            and len(_stems(question) & heading) / len(heading) >= VERDICT_HEADING_MATCH):
        return sentence
    rest = sentence.clean[verdict.end():]
    return Sentence(sentence.passage, sentence.start, sentence.end, sentence.text,
                    rest[:1].upper() + rest[1:])


def _restated_heading(chosen: int, passages: Iterable[int], docs: Sequence[Document]) -> int:
    """The passage to answer from: the one holding the best sentence (``chosen``), unless another
    section's heading all but restates the question (heading match at least
    RESTATED_HEADING, and RESTATED_MARGIN above the chosen section's). Guidance is written
    answer-first under question-like headings, so such a section is the answer even when a
    sentence elsewhere shares more words with the question ("does Koestler do anything for
    people after they leave prison?" led with the glossary's entry for Koestler Arts, beside
    "Can Koestler Arts support someone after they leave prison?"). Measured on the question
    sets (docs/quality.md, session 8): 18 answers gained the key fact or stopped being wrong,
    4 lost it; key fact 0.555 -> 0.568, not-in-library declines unchanged."""
    def heading(p: int) -> float:
        return float(docs[p].metadata.get("heading_score") or 0.0)

    best = max(passages, key=heading)
    if heading(best) >= RESTATED_HEADING and heading(best) >= heading(chosen) + RESTATED_MARGIN:
        return best
    return chosen


def _second_section(chosen: int, best_in: dict[int, float], docs: Sequence[Document]
                    ) -> int | None:
    """The passage of another section that matches the question nearly as well as the chosen
    one: its opening joins the answer, so that when the best two sections disagree about which
    answers, both are shown (each cited)."""
    rivals = [p for p in best_in
              if p != chosen and section_key(docs[p]) != section_key(docs[chosen])]
    if not rivals or not SECOND_SECTION_LEAD:
        return None
    best = max(rivals, key=lambda p: best_in[p])
    return best if best_in[best] >= best_in[chosen] - SECOND_SECTION_GAP else None


# A sentence that leans on the one before it within its first words ("These checks...", "It
# takes..."): said out of its order it would point at nothing.
_POINTS_BACK = re.compile(r"^(\W*\w+\W+){0,3}(it|its|they|them|this|these|those|such|same|he|"
                          r"she)\b", re.I)


def _best_second(picked: list[Sentence], best: Sentence) -> list[Sentence]:
    """The answer's sentences with the chosen section's best-matching sentence said second,
    straight after the section's opening, when it would otherwise come later: the first two
    sentences are what a reader takes as the answer. Measured on the question sets (session 7):
    the key fact in the first two sentences rose from 0.347 to 0.388 of covered questions (38
    answers gained it, 8 lost it), the answers' sentences unchanged. A sentence that leans on
    the one before it keeps its place."""
    at = next((i for i, s in enumerate(picked)
               if s.passage == best.passage and s.start == best.start), None)
    if at is None or at < 2 or picked[0].passage != best.passage or _POINTS_BACK.match(
            picked[at].clean):
        return picked
    return [picked[0], picked[at]] + [s for i, s in enumerate(picked) if i not in (0, at)]


def _says_again(terms: set[str], said: set[str]) -> bool:
    """Whether a sentence repeats one already chosen: mostly the same words, or nearly all of
    its words inside it (a guide and its summary stating the same fact, once briefly)."""
    if not terms or not said:
        return False
    return _jaccard(terms, said) > 0.6 or (len(terms) >= 4
                                           and len(terms & said) / len(terms) >= 0.8)


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _with_list(sentence: Sentence, docs: Sequence[Document]) -> Sentence:
    """A sentence that introduces a list ("You must not bring in:") brings the list with it."""
    if not sentence.text.rstrip().endswith(":"):
        return sentence
    text = docs[sentence.passage].page_content
    end = sentence.end
    items = 0
    for m in re.finditer(r"\n([^\n]+)", text[end:]):
        line = m.group(1)
        if not LIST_MARK.match(line) or items >= 6:
            break
        end = sentence.end + m.end()
        items += 1
    span = text[sentence.start:end]
    lines = [clean_markdown(ln) for ln in span.splitlines() if ln.strip()]
    # Items keep their own words; their closing ";", "," or "." give way to one "; " between.
    items = [ln.rstrip(";,. ") for ln in lines[1:]]
    clean = " ".join([lines[0], "; ".join(i for i in items if i)]).strip()
    return Sentence(sentence.passage, sentence.start, end, span, clean)
