"""Regenerate the initial migration from monitor/models.py.

Until the first release there is a single migration, rebuilt whenever the model changes.
After a release, add new revisions instead (`alembic revision --autogenerate`).
"""

import tempfile
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine

from monitor.migrate import MIGRATIONS, alembic_config

for old in (MIGRATIONS / "versions").glob("0001_*.py"):
    old.unlink()
with tempfile.TemporaryDirectory() as tmp:
    engine = create_engine(f"sqlite:///{Path(tmp) / 'gen.db'}")
    with engine.begin() as conn:
        command.revision(alembic_config(conn), message="initial schema", autogenerate=True, rev_id="0001")
print("regenerated", *(MIGRATIONS / "versions").glob("0001_*.py"))
