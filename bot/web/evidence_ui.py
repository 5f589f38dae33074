"""The evidence browser tab: summaries of evaluations and studies, filtered by art form,
setting, outcome, country, decade and strength, each summary readable in place."""

import logging
from typing import Any

log = logging.getLogger(__name__)


def build_evidence_tab(bot) -> tuple[Any, list[Any]]:
    import gradio as gr

    from bot.web.viewer import summary_markdown
    from bot.wiring import STRENGTH_ORDER, first_year

    headers = ["Study", "Year", "Country", "Art forms", "Settings", "Outcomes",
               "Strength of evidence"]
    listed = ("art_forms", "settings", "outcomes", "country")  # filters on list-valued fields

    def load() -> list[dict[str, Any]]:
        try:
            return bot.evidence_table()
        except Exception:
            log.warning("evidence_table_failed", exc_info=True)
            return []

    def values(row: dict[str, Any], key: str) -> list[str]:
        return [v.strip() for v in row[key].split(",") if v.strip()]

    def choices(rows: list[dict[str, Any]], key: str) -> list[str]:
        return ["any"] + sorted({v for r in rows for v in values(r, key)})

    def decades(rows: list[dict[str, Any]]) -> list[str]:
        years = {y for r in rows if (y := first_year(r["year"])) is not None}
        return ["any"] + [f"{d}s" for d in sorted({y // 10 * 10 for y in years}, reverse=True)]

    def table(art: str, setting: str, outcome: str, country: str, decade: str, strength: str,
              studies: list[dict[str, Any]] | None = None):
        """The rows matching the filters, from ``studies`` (loaded afresh when not given)."""
        wanted = dict(zip(listed, (art, setting, outcome, country)))
        rows = [r for r in (load() if studies is None else studies)
                if all(v == "any" or v in values(r, k) for k, v in wanted.items())
                and (strength == "any" or r["evidence_strength"] == strength)
                and (decade == "any" or (first_year(r["year"]) or 0) // 10 * 10
                     == int(decade[:4]))]
        data = [[r["title"], r["year"], r["country"], r["art_forms"], r["settings"],
                 r["outcomes"], r["evidence_strength"]] for r in rows]
        count = f"**{len(rows)} {'study' if len(rows) == 1 else 'studies'}** match."
        return data, [r["source"] for r in rows], count

    def open_summary(shown: list[str], evt: gr.SelectData):
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        if row is None or not 0 <= row < len(shown):
            return ""
        return summary_markdown(bot.settings.docs_dir, shown[row])

    rows = load()
    gr.Markdown("### Evidence browser\nSummaries of evaluations and studies of arts in criminal "
                "justice, strongest evidence first, then the newest. Filter the table, then "
                "select a study to read its summary. Studies from outside England and Wales are "
                "marked by their country.")
    with gr.Row(elem_classes="stack-on-phone"):
        art = gr.Dropdown(choices(rows, "art_forms"), value="any", label="Art form",
                          elem_id="ev-art")
        setting = gr.Dropdown(choices(rows, "settings"), value="any", label="Setting",
                              elem_id="ev-setting")
        outcome = gr.Dropdown(choices(rows, "outcomes"), value="any", label="Outcome",
                              elem_id="ev-outcome")
    with gr.Row(elem_classes="stack-on-phone"):
        country = gr.Dropdown(choices(rows, "country"), value="any", label="Country",
                              elem_id="ev-country")
        decade = gr.Dropdown(decades(rows), value="any", label="Published",
                             elem_id="ev-year")
        strength = gr.Dropdown(["any", *STRENGTH_ORDER], value="any",
                               label="Strength of evidence", elem_id="ev-strength")
    controls = [art, setting, outcome, country, decade, strength]
    first, first_sources, first_count = table(*["any"] * len(controls), studies=rows)
    shown = gr.State(first_sources)
    count = gr.Markdown(first_count, elem_id="evidence-count")
    studies = gr.Dataframe(headers=headers, value=first, interactive=False, wrap=True,
                           label="Studies", elem_id="evidence-table",
                           column_widths=["30%", "7%", "9%", "13%", "14%", "17%", "10%"])
    summary = gr.Markdown(elem_id="evidence-summary")
    for control in controls:
        control.change(table, controls, [studies, shown, count], api_name=False)
    studies.select(open_summary, [shown], [summary], api_name=False)

    def refresh():
        rows = load()
        data, sources, counted = table(*["any"] * len(controls), studies=rows)
        updates = [gr.update(choices=choices(rows, key), value="any") for key in listed]
        return (data, sources, counted, *updates,
                gr.update(choices=decades(rows), value="any"), "any")

    return refresh, [studies, shown, count, art, setting, outcome, country, decade, strength]
