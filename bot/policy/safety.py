"""Recognising questions the bot must not answer from the guidance as asked.

Two kinds: requests for help breaking an establishment's rules (smuggling, concealing, passing
messages or items for someone in custody, getting round searches), which are refused with the
rules cited; and questions about a particular person's own case (appeals, sentences, transfers),
which the guidance does not cover and which need a solicitor or the establishment. Asking *what to
do if* someone asks you to pass something on is guidance, not a harmful request, and is answered.
"""

from __future__ import annotations

import re

_F = re.I | re.S

# Asking what to do when someone else asks is a request for guidance, not for help.
_ADVICE = re.compile(
    r"\b(what (should|do|must|can) (i|we) do|what if|what happens if|how (should|do) (i|we) "
    r"(respond|react|handle|deal|say no)|(asks?|asked|asking|wants?|wanted|pressur\w*) (me|us) "
    r"to|if (i'?m|i am|i get|i'?ve been) asked|been asked to|someone (asks|asked))\b", _F)

_HOW_TO = re.compile(
    r"\b(how (can|could|do|would|might|should) (i|we) (?!(respond|react|handle|deal|say no|"
    r"refuse|report|tell|stop|avoid being|protect|keep (myself|safe)))|easiest way|best way|"
    r"safest way|quickest way|is there (a|any) way|help me|without (being|getting|them|anyone|"
    r"the|security|staff))", _F)

_DRUGS_AND_DEVICES = (r"(phones?|mobiles?|sim( cards?)?|drugs?|spice|cannabis|weed|pills?|"
                      r"tobacco|cigarettes?|vapes?|lighters?|alcohol|booze|vodka|weapons?|"
                      r"knife|knives|blades?|razors?|cash)")
_CONTRABAND = (r"(phones?|mobiles?|sim( cards?)?|drugs?|spice|cannabis|weed|pills?|tablets?|"
               r"tobacco|cigarettes?|vapes?|lighters?|alcohol|booze|vodka|weapons?|knife|knives|"
               r"blades?|razors?|scissors|cash|money|usb|memory sticks?|charger|contraband|"
               r"parcel|package|letters?|notes?|messages?|items?|stuff|things?|something)")
_FOR_SOMEONE = (r"(for|to) (him|her|them|a prisoner|prisoners|an inmate|inmates|the inmate|"
                r"the prisoner|a participant|participants|the participant|one of (my|the) "
                r"(participants|learners|prisoners|students|group)|a young person|a lad|a guy|"
                r"someone (inside|in there|in prison)|my (participant|student|learner)|(my|the|our) "
                r"(group|class|participants|learners|lads|women|guys|girls|boys|young people))")

_HARMFUL = [
    re.compile(r"\b(smuggl\w*|sneak\w*|hide|hiding|hid|conceal\w*|stash\w*)\b", _F),
    re.compile(rf"\b(bring|take|get|carry|slip|pass|give|hand|drop|deliver|post)\w*\b.{{0,40}}"
               rf"\b{_CONTRABAND}\b.{{0,40}}\b{_FOR_SOMEONE}\b", _F),
    re.compile(rf"\b(bring|take|get|carry|slip|pass|give|hand|drop|deliver|post)\w*\b.{{0,30}}"
               rf"\b{_FOR_SOMEONE}\b.{{0,30}}\b{_CONTRABAND}\b", _F),
    re.compile(r"\bpass(ing)? (on )?(a |the |his |her |their )?(message|note|letter)s?\b", _F),
    re.compile(r"\b(post|send|take|carry|get)\w* (a |the |his |her |their )?(message|note|letter|"
               r"manuscript|card|parcel|drawing|poem)s? (out|in)?\b.{0,40}\b(for (him|her|them)|"
               r"to (his|her|their) |(his|her|their) (family|girlfriend|boyfriend|partner|wife|"
               r"husband|mum|mother|dad|father|kids|children|friend))", _F),
    re.compile(rf"\b(get|bring|take|sneak|slip)\w* (a few |some |any )?{_DRUGS_AND_DEVICES} (in|into|"
               rf"through|out)\b", _F),
    # "Through security" is the normal way in; "past" or "round" it is not.
    re.compile(r"\b(get|getting|go|going|take|bring|carry|slip)\w*\b.{0,30}?\b(round|around|past)"
               r"\b.{0,15}\b(search\w*|security|scanners?|the dogs?|sniffer|metal detectors?|"
               r"checks?|officers?|staff)\b", _F),
    re.compile(r"\bavoid(ing)? (the )?(search\w*|scanners?|dogs?|security checks?)\b", _F),
    re.compile(r"\b(without (being|getting) (caught|searched|noticed|found|detected)|"
               r"without (security|staff|the officers|the prison|the governor|anyone|them|"
               r"probation|(his|her|their) probation officers?) "
               r"(knowing|noticing|finding|seeing|checking|approving)|"
               r"avoid (detection|being (searched|caught))|so (that )?(security|staff|the "
               r"officers|they|nobody|no one|probation|(his|her|their|the) probation officers?|"
               r"the prison|the governor|the school|the home|his family|anyone)( will)? "
               r"(don'?t|do not|doesn'?t|does not|won'?t|will not|can'?t|cannot|never) (ever )?"
               r"(find|notice|see|know|trace|track|check)|"
               r"(can'?t|cannot|won'?t) be (traced|tracked) back to (me|us)|"
               r"behind (their|the prison'?s|staff'?s|probation'?s) backs?)\b", _F),
    # Secret channels to someone in custody or on licence ("a second phone for work" is fine).
    re.compile(r"\b(burner|secret) (phone|account|profile|e-?mail|number|sim)s?\b", _F),
    re.compile(r"\b(give|gave|pass|share|send|sent|swap|exchange)\w*\b.{0,30}\b(my|personal|home|private)"
               r" (phone )?(number|address|e-?mail|instagram|facebook|snapchat|whatsapp|"
               r"social media|details)\b.{0,40}\b(prisoners?|participants?|inmates?|offenders?|"
               r"him|her|them|a lad|young (person|people))\b", _F),
    re.compile(r"\b(give|gave|pass|send|sent)\w* (a |the |one of (my|the) )?(prisoners?|participants?|"
               r"inmates?|offenders?|learners?|him|her|them)\b.{0,20}\b(my|personal|home|private)"
               r" (phone )?(number|address|e-?mail|instagram|facebook|snapchat|whatsapp|"
               r"social media|details)\b", _F),
]


def plain(text: str) -> str:
    """One space between words and straight apostrophes (phone keyboards type ’)."""
    return " ".join(text.replace("\u2019", "'").replace("\u2018", "'").split())


def is_harmful(question: str) -> bool:
    """A request for help breaking the rules, asked as something the user means to do."""
    text = plain(question)
    if not any(p.search(text) for p in _HARMFUL):
        return False
    # "How do I get it past security?" is a request for help, whatever else the question says.
    return bool(_HOW_TO.search(text)) or not _ADVICE.search(text)


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
