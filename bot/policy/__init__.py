"""Policy: what the bot refuses or declines before it answers. The rules people tune are data
(``requests.yaml``: categories, the rule each one cites, exemplar requests, and honest questions
that must be answered; personal cases; safeguarding situations), read by the checks that learn
from it (:mod:`bot.policy.detector`). :mod:`bot.policy.scope` decides whether the library covers a
question at all, and
:mod:`bot.policy.colloquial` adds the guidance's words for everyday ones before searching."""
