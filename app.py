"""Run the web app: ``python app.py`` (the same as ``python -m bot serve``)."""

from bot.cli import main

if __name__ == "__main__":
    main(["serve"])
