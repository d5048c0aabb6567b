"""What a check or the grader found, readable as text (print, repr) and as HTML (Jupyter)."""
import html
from dataclasses import dataclass, field

MARKS = {"ok": "✓", "fail": "✗", "warn": "!", "todo": "…", "info": "·"}
COLOURS = {"ok": "#1a7f37", "fail": "#cf222e", "warn": "#9a6700", "todo": "#57606a", "info": "#57606a"}
LABELS = {"passed": "PASSED", "failed": "NOT YET RIGHT", "todo": "NOT DONE YET"}


@dataclass
class Finding:
    level: str   # ok | fail | warn | todo | info
    text: str


class Findings(list):
    """Collects findings; `fail()` and friends read like the sentences they add."""

    def add(self, level, text):
        self.append(Finding(level, text))

    def ok(self, text):
        self.add("ok", text)

    def fail(self, text):
        self.add("fail", text)

    def warn(self, text):
        self.add("warn", text)

    def todo(self, text):
        self.add("todo", text)

    def info(self, text):
        self.add("info", text)


@dataclass
class CheckResult:
    """What a check found: status "passed", "failed" or "todo", and findings (Jupyter shows it)."""

    title: str
    findings: list = field(default_factory=list)

    @property
    def heading(self):
        return self.title

    @property
    def status(self):
        levels = {f.level for f in self.findings}
        return "failed" if "fail" in levels else "todo" if "todo" in levels else "passed"

    @property
    def passed(self):
        return self.status == "passed"

    def __bool__(self):
        return self.passed

    def messages(self, level=None):
        return [f.text for f in self.findings if level is None or f.level == level]

    def __repr__(self):
        lines = [f"{self.heading}: {LABELS[self.status]}"]
        lines += [f"  {MARKS[f.level]} {f.text}" for f in self.findings]
        return "\n".join(lines)

    __str__ = __repr__

    def _repr_html_(self):
        colour = {"passed": COLOURS["ok"], "failed": COLOURS["fail"], "todo": COLOURS["todo"]}[self.status]
        items = "".join(f'<li style="list-style:none;color:{COLOURS[f.level]}">{MARKS[f.level]} '
                        f'{html.escape(f.text)}</li>' for f in self.findings)
        # tex2jax_ignore: JupyterLab typesets $...$ in HTML output as maths, and these texts are full of dollars
        return (f'<div class="tex2jax_ignore mathjax_ignore"><b>{html.escape(self.heading)}: '
                f'<span style="color:{colour}">{LABELS[self.status]}</span></b>'
                f'<ul style="margin:0.3em 0;padding-left:0.5em">{items}</ul></div>')


@dataclass(repr=False)
class StepCheck(CheckResult):
    """The outcome of `check_step(n, agent)`."""

    step: int = 0

    def __init__(self, step, title, findings=None):
        super().__init__(title, list(findings or []))
        self.step = step

    @property
    def heading(self):
        return f"Step {self.step} · {self.title}"


@dataclass(repr=False)
class ExerciseCheck(CheckResult):
    """The outcome of `glwork.lab.check("01.second_tool", ...)`."""

    exercise: str = ""

    def __init__(self, exercise, title, findings=None):
        super().__init__(title, list(findings or []))
        self.exercise = exercise

    @property
    def heading(self):
        return f"Your turn {self.exercise} · {self.title}"


@dataclass
class GradeItem:
    name: str
    points: float
    max_points: float
    notes: list = field(default_factory=list)
    bonus: bool = False


@dataclass
class Grade:
    """The homework's score: one `GradeItem` per requirement and bonus, with totals."""

    items: list

    @property
    def requirements(self):
        return [i for i in self.items if not i.bonus]

    @property
    def bonuses(self):
        return [i for i in self.items if i.bonus]

    @property
    def total(self):
        return sum(i.points for i in self.requirements)

    @property
    def max_total(self):
        return sum(i.max_points for i in self.requirements)

    @property
    def bonus(self):
        return sum(i.points for i in self.bonuses)

    @property
    def max_bonus(self):
        return sum(i.max_points for i in self.bonuses)

    def scores(self):
        """{item name: points}, bonuses included."""
        return {i.name: i.points for i in self.items}

    def __getitem__(self, name):
        return next(i for i in self.items if i.name == name)

    def __repr__(self):
        width = max(len(i.name) for i in self.items)
        lines = [f"Homework: document Q&A system · {_n(self.total)}/{_n(self.max_total)} "
                 f"(+{_n(self.bonus)}/{_n(self.max_bonus)} bonus)"]
        for title, group in (("Requirements", self.requirements), ("Bonus", self.bonuses)):
            lines.append(title)
            for i in group:
                lines.append(f"  {i.name:<{width}}  {_n(i.points):>4}/{_n(i.max_points):<3} " + "; ".join(i.notes))
        return "\n".join(lines)

    __str__ = __repr__

    def _repr_html_(self):
        rows = []
        for title, group in (("Requirements", self.requirements), ("Bonus", self.bonuses)):
            rows.append(f'<tr><th colspan="3" style="text-align:left">{title}</th></tr>')
            for i in group:
                colour = COLOURS["ok"] if i.points == i.max_points else \
                    COLOURS["warn"] if i.points else COLOURS["fail"]
                notes = "<br>".join(html.escape(n) for n in i.notes)
                rows.append(f'<tr><td style="text-align:left">{html.escape(i.name)}</td>'
                            f'<td style="color:{colour};text-align:right">{_n(i.points)}/{_n(i.max_points)}</td>'
                            f'<td style="text-align:left">{notes}</td></tr>')
        return (f'<div class="tex2jax_ignore mathjax_ignore"><b>Homework: document Q&amp;A system · '
                f'{_n(self.total)}/{_n(self.max_total)} '
                f'(+{_n(self.bonus)}/{_n(self.max_bonus)} bonus)</b><table>{"".join(rows)}</table></div>')


def _n(x):
    return f"{x:g}"
