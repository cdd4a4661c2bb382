"""What pyproject.toml cannot say: templates/ at the top of the repository ships inside the
package as monitor/templates, next to the code that renders them (monitor.resources)."""

from setuptools import find_namespace_packages, setup

TEMPLATE_FOLDERS = [f"monitor.templates.{name}" for name in find_namespace_packages("templates")]

setup(packages=[*find_namespace_packages(include=["monitor*"]), "monitor.templates", *TEMPLATE_FOLDERS],
      package_dir={"monitor.templates": "templates"})
