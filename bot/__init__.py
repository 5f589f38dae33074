"""A guidance chatbot for artists and cultural organisations entering criminal justice settings.

Importing this package does no work: settings, models and stores are built by
:func:`bot.wiring.build_bot`, the one composition root, and only when a command needs them.
"""

__version__ = "0.1.0"
