"""nbgrader configuration of the homework course: run every nbgrader command from this folder.

    nbgrader generate_assignment document_qa   # source/ -> release/ (the notebook students get)
    nbgrader zip_collect document_qa           # downloaded/document_qa/archive/*.ipynb -> submitted/
    nbgrader autograde document_qa             # submitted/ -> autograded/ + gradebook.db (offline)
    nbgrader export --to grades.csv            # one row per student and assignment
"""
import os

c = get_config()  # noqa: F821 (nbgrader provides it)

c.CourseDirectory.course_id = "glwork-llm-infrastructure"
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))

# Autograding is offline: the notebooks' sessions use the kit's local backend, never a provider's
# API (no key is read, nothing is billed), so a grade is the same on every run. The kernels
# inherit this environment.
os.environ["GLWORK_MODE"] = "local"
for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "AZURE_OPENAI_API_KEY"):
    os.environ.pop(key, None)
# Other questions of the grader's pool than the ones students see when they run the notebook:
# os.environ["GLWORK_HOMEWORK_SEED"] = "spring-2027"
# Answers while grading come from the local backend's extractive engine (it quotes the passages the
# agent sent: the same grade on every run); "auto" lets the local model write them (slower, and a
# small model misstates facts a correct agent retrieved).
# os.environ["GLWORK_HOMEWORK_ENGINE"] = "auto"
# The kernels start on that engine too: no notebook loads the local model for nothing (minutes on
# a busy machine).
os.environ["GLWORK_LOCAL_ENGINE"] = os.environ.get("GLWORK_HOMEWORK_ENGINE") or "extractive"

# The grading cell indexes the learner's documents and asks a few questions: minutes, not seconds.
c.Execute.timeout = 1800
# A test cell a learner deleted comes back (and is graded) instead of failing the notebook.
c.OverwriteCells.add_missing_cells = True

# Notebooks downloaded from a learning management system, one per learner, named
# <student id>_document_qa.ipynb in downloaded/document_qa/archive/ (zip files are unpacked).
c.ZipCollectApp.strict = True
c.FileNameCollectorPlugin.named_regexp = r".*/(?P<student_id>[^/]+)_(?P<file_id>document_qa\.ipynb)$"
