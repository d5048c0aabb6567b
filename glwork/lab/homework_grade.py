"""The homework grader's result: report.Grade plus short keys per rubric line, a refusal, and
`points()`, the score an nbgrader test cell outputs."""
import html
from dataclasses import dataclass

from .report import Grade, GradeItem


@dataclass
class HomeworkItem(GradeItem):
    key: str | None = None          # short name: "index", "caching", ...


@dataclass(repr=False)
class HomeworkGrade(Grade):
    """`refused` says why a submission was not graded (every line is then 0)."""

    refused: str | None = None

    def __getitem__(self, name):
        """The line called `name`, or whose key is `name` ("index", "answers", "caching", ...)."""
        found = next((i for i in self.items if name in (i.name, getattr(i, "key", None))), None)
        if found is None:
            raise KeyError(f"no rubric line {name!r}: one of "
                           f"{', '.join(getattr(i, 'key', None) or i.name for i in self.items)}")
        return found

    def points(self, name):
        """Print one rubric line with its notes and return its points (an nbgrader test cell's score)."""
        item = self[name]
        print(f"{item.name}: {item.points:g}/{item.max_points:g}" + "".join(f"\n  {n}" for n in item.notes))
        return float(item.points)

    @property
    def title(self):
        head = "Homework: document Q&A system · "
        if self.refused:
            return head + "not graded: " + self.refused
        return head + f"{self.total:g}/{self.max_total:g} (+{self.bonus:g}/{self.max_bonus:g} bonus)"

    def __repr__(self):
        return "\n".join([self.title] + super().__repr__().splitlines()[1:])

    __str__ = __repr__

    def _repr_html_(self):
        body = super()._repr_html_()
        return f"<div><b>{html.escape(self.title)}</b>" + body[body.index("<table>"):]
