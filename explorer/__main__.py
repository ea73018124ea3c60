import sys

from explorer.errors import missing_dependency

try:
    from explorer.cli import main
    code = main()
except ModuleNotFoundError as e:   # run with a Python that lacks the project's dependencies
    print(missing_dependency(e), file=sys.stderr)
    code = 2
raise SystemExit(code)
