"""Executes Jupyter notebooks headless, as the test suite does.

Usage: python run_notebooks.py NOTEBOOK...

Each notebook runs top to bottom in a fresh kernel with its own folder as the
working directory; a cell that raises fails the notebook. Prints one line per
notebook and exits non-zero when any failed.
"""
import os
import sys
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


def run(path):
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}})
    client.execute()


def main(paths):
    failed = 0
    for path in paths:
        start = time.time()
        try:
            run(path)
            print(f"--- PASS: notebook {path} ({time.time() - start:.1f}s)")
        except CellExecutionError as err:
            failed += 1
            print(f"--- FAIL: notebook {path} ({time.time() - start:.1f}s)\n{err}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
