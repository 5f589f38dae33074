"""Policy: what the bot refuses or declines before it answers. The rules people tune are data
(``requests.yaml``: categories, the rule each one cites, exemplar requests, and honest questions
that must be answered), read by the semantic check that learns from it
(:mod:`bot.policy.detector`); the older pattern rules (:mod:`bot.policy.safety`) still run beside
it. :mod:`bot.policy.scope` decides whether the library covers a question at all, and
:mod:`bot.policy.colloquial` adds the guidance's words for everyday ones before searching."""
