"""Recognising questions about a particular person's own case (appeals, sentences, transfers,
visits), which the guidance does not cover and which need a solicitor or the establishment.

Requests for help breaking an establishment's rules are recognised by the policy model
(:mod:`bot.policy.detector`, trained on the exemplars in ``requests.yaml`` and ``exemplars.yaml``),
not here. The pattern rules that used to sit beside it caught 9 of 160 harmful requests in new
wording (the second safety set) while refusing honest questions such as "Should I give
participants my phone number?"; without them the model refused one fewer of the 336 harmful
requests of the first set and six fewer of its look-alikes (docs/quality.md, session 5).
"""

from __future__ import annotations

import re

_F = re.I | re.S


def plain(text: str) -> str:
    """One space between words and straight apostrophes (phone keyboards type ’)."""
    return " ".join(text.replace("\u2019", "'").replace("\u2018", "'").split())


_PERSON = (r"\b(my|our|his|her|their) (son|daughter|brother|sister|dad|father|mum|mother|"
           r"husband|wife|partner|boyfriend|girlfriend|friend|cousin|uncle|aunt|nephew|niece|"
           r"child|kid|grandson|granddaughter|family member|relative|mate)\b")
_CASE = (r"\b(legal aid|complain\w*|assault\w*|appeal\w*|sentenc\w*|parole|release date|early release|tag|"
         r"tagged|licence conditions|recall\w*|solicitor|lawyer|barrister|court|trial|charged|arrested|bail|"
         r"convict\w*|moved|transfer\w*|categor\w*|visit\w*|compensation|sue|plead\w*|"
         r"got \d+ (years|months))\b")
_PERSONAL_CASE = [
    re.compile(r"\b(visiting (times|hours|order)|book(ing)? (a |my )?visits?|visit(ing)? (a |my )?"
               r"(prisoner|loved one)|send(ing)? (money|a letter|letters|a parcel) (to|in to) "
               r"(a |my |someone|somebody)|(write|writing) to (a |my )?prisoner)\b", _F),
    re.compile(rf"{_PERSON}.{{0,60}}\b(in prison|inside|in jail|on remand|in (his|her|their) "
               rf"cell|locked up|in custody|a prisoner)\b", _F),
    re.compile(rf"{_PERSON}.{{0,80}}{_CASE}", _F),
    re.compile(rf"{_CASE}.{{0,80}}{_PERSON}", _F),
    re.compile(r"\b(can|should|how (do|can)) i (appeal|sue|get (my|a) (sentence|conviction))\b",
               _F),
    re.compile(r"\bhow (do|can|would) (i|we|you) (claim|get|apply for|win) (compensation|legal "
               r"aid|parole|early release|bail)\b", _F),
    re.compile(r"\bmy (own )?(case|sentence|conviction|appeal|trial|licence|parole|probation "
               r"officer)\b", _F),
    # The asker's own brush with the law now, not an old conviction and working in a prison.
    re.compile(r"\b(i|i'?ve|i have|i was|i got|i'?m|i am|i'?ve been|i have been) (just |been )?"
               r"(arrested|charged with|cautioned|summonsed|summoned|remanded|convicted|sentenced|"
               r"recalled|stopped by the police|pulled over|on bail)\b.{0,40}\b(yesterday|today|"
               r"last (night|week|month)|this (morning|week)|tonight|on (mon|tues|wednes|thurs|"
               r"fri|satur|sun)day)\b", _F),
    # ... but "Could I end up in prison if I bring my phone in?" is about the rules: answered.
    re.compile(r"\bwill i (get|end up with|be given|receive) (a |an )?(criminal record|conviction|"
               r"caution|prison sentence|jail time|community order)\b(?!.{0,80}\bif (i|we)\b)",
               _F),
    re.compile(r"\b(will|could|might) i (go|be sent|end up|get sent) (to|in) (prison|jail|custody)"
               r"\b(?!.{0,80}\bif (i|we)\b)(?! (each|every|on|for (a|my|the) (session|residency|"
               r"workshop)))", _F),
    re.compile(r"\b(i'?ve|i have|i'?ve got|i got) (a )?court (date|case|hearing|appearance)\b",
               _F),
    re.compile(r"\b((visitors?'?|visiting) (booking|order|times?|hours)|visitors?'? cent(re|er)s? "
               r"(at|in|for|near) (hmp|hmyoi|the prison|a prison|\w+ prison)|park(ing)? (for|at|"
               r"near) (a |the |my )?visits?)\b", _F),
]


def is_personal_case(question: str) -> bool:
    """A question about one person's legal case or custody, which needs individual advice."""
    text = plain(question)
    return any(p.search(text) for p in _PERSONAL_CASE)
