"""Policy: what the bot refuses, as data (``requests.yaml``: categories, the rule each one cites,
exemplar requests, and honest questions that must be answered), and the semantic check that
learns from it (:mod:`bot.policy.detector`). The older pattern rules in :mod:`bot.safety` still
run beside it."""
